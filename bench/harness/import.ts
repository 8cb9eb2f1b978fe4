import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { importGraph, type ImportResult } from '../../scripts/import/importGraph';
import { parseImportArgs } from '../../scripts/import/options';

/**
 * How a benchmark writes its graph into a stopped cluster's LevelDBs: through scripts/import (the importer that
 * `npm run import` runs), as a child process for a generated graph, or in process for the edges of a scenario.
 */

/** Runs `npm run import`'s script with `args` as a child process (its progress to our stderr); its report. */
export function runImport(args: string[]): Promise<ImportResult> {
  // dist/bench/harness -> dist/scripts/import.js
  const script = join(__dirname, '..', '..', 'scripts', 'import.js');
  if (!existsSync(script)) return Promise.reject(new Error(`${script} is missing: the benchmark needs scripts/import.ts (npm run build)`));
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`import exited with ${code}: ${out.slice(-2000)}`));
      try {
        resolve(JSON.parse(last) as ImportResult);
      } catch {
        reject(new Error(`import printed no report: ${out.slice(-2000)}`));
      }
    });
  });
}

/** One following as the importer's JSON lines hold it. */
export interface ImportEdge {
  follower: string;
  followee: string;
  affinity: number;
  entities?: string[];
}

/**
 * Writes `edges` as the JSON lines the importer reads and imports them in this process into the (stopped)
 * cluster's data dir (3 nodes); the file is removed afterwards.
 */
export async function importEdges(edges: ImportEdge[], dataDir: string, log: (s: string) => void): Promise<{ seconds: number; keys: number }> {
  const file = join(dataDir, 'graph.jsonl');
  const out = createWriteStream(file);
  for (const e of edges) if (!out.write(JSON.stringify(e) + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const opts = parseImportArgs(['--data', dataDir, '--file', file, '--nodes', '3', '--no-progress', '--sample', '0'])!;
  opts.log = (s) => log(`import: ${s}`);
  const t0 = performance.now();
  const res = await importGraph(opts);
  rmSync(file, { force: true });
  return { seconds: (performance.now() - t0) / 1000, keys: res.keys };
}
