import type { ClusterProcess } from '../../scripts/ClusterProcess';

/** What a benchmark reads of a cluster's log (its JSON lines, pino): the tail when a run fails, the warnings. */

/** Logs the last 3,000 characters the cluster logged: what a failed run shows to explain itself. */
export function logClusterTail(cluster: ClusterProcess | undefined, log: (line: string) => void): void {
  if (cluster) log(`cluster log tail:\n${cluster.logs.slice(-3000)}`);
}

/** Warnings and errors the cluster logged (pino level >= 40), counted by message. */
export function clusterWarnings(logs: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of logs.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const l = JSON.parse(line) as { level: number; msg: string; name?: string; node?: string };
      if (l.level >= 40) {
        const k = `${l.name ?? ''}${l.node ? `/${l.node}` : ''}: ${l.msg}`;
        out[k] = (out[k] ?? 0) + 1;
      }
    } catch {
      /* a line cut by the log buffer */
    }
  }
  return out;
}
