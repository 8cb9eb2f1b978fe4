import { execSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { hostLoad } from './sampler';

/**
 * What a result line says about where it was measured: how busy the machine was before the run, and the commit.
 * A figure from a busy machine or from uncommitted code is not comparable, and the line says so.
 */

/** Machine CPU busy over `ms` before the run, in cores, logged with a warning when something else is running. */
export async function machineBusyBefore(log: (line: string) => void, ms = 1000): Promise<number> {
  const load = await hostLoad(ms);
  log(
    `machine busy before the run: ${load.toFixed(2)} cores of ${availableParallelism()}${load > 0.2 ? ' -- WARNING: something else is running, figures will be low' : ''}`,
  );
  return load;
}

/** The commit the benchmark ran on (`git rev-parse --short HEAD`, `+dirty` with uncommitted changes), or null. */
export function gitCommit(): string | null {
  try {
    // dist/bench/harness -> the checkout.
    const cwd = join(__dirname, '..', '..', '..');
    const head = execSync('git rev-parse --short HEAD', { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty =
      execSync('git status --porcelain --untracked-files=no', { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim() !== '';
    return head + (dirty ? '+dirty' : '');
  } catch {
    return null;
  }
}
