import { readFileSync } from 'node:fs';

/**
 * Whether a process with this PID is running. A zombie (exited, not yet reaped: this container's init does not
 * reap orphans) counts as gone: it holds no file locks any more.
 */
export function isAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}
