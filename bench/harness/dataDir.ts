import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh data dir for one run of benchmark `name` (a cluster's, or a raw measurement's), in the system temp dir. */
export function tempDataDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `herald-${name}-`));
}

/** The end of a run: its data dir removed, or (`--keep-data`) kept and said where, to look at or import again. */
export function dropDataDir(dir: string, keep: boolean, log: (line: string) => void): void {
  if (keep) log(`data kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
