import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Generator, parseImportArgs } from './import';

const HELP = `herald gen-graph: write a synthetic bimodal follow graph as CSV (follower,followee,weight).

Usage: npm run gen-graph -- --users N --out FILE [generator options]
  --users N                  users u0..u<N-1> (default 100000)
  --out FILE                 where to write the CSV (npm run import -- --edges FILE loads it)
  --celebrity-followers N    u0..u<N-1> also follow the celebrity (default N / 2)
  and every other generator option of npm run import -- --help (--celebrity, --avg-followings, --seed, ...).

The graph is the importer's --generate graph (the same options and seed give the same edges): one celebrity with
very many followers, everyone else following 5 + Poisson(1) friends drawn uniformly, so followers per account are
tens at most; weights are the follower's affinity (>= 1). Entities are not part of the CSV format.`;

/** Writes the generated graph's edges to `out`; resolves with the counts. */
export async function genGraph(args: string[], out: string): Promise<{ users: number; edges: number }> {
  const opts = parseImportArgs(['--generate', ...args]);
  const g = opts!.generate!;
  const gen = new Generator(g);
  const file = createWriteStream(out);
  let edges = 0;
  file.write('follower,followee,weight\n');
  for (let i = 0; i < g.users; i++) {
    let chunk = '';
    for (const e of gen.edgesOf(i)) {
      chunk += `u${i},${e.followee},${e.affinity.toFixed(3)}\n`;
      edges++;
    }
    if (chunk && !file.write(chunk)) await once(file, 'drain');
  }
  file.end();
  await once(file, 'finish');
  return { users: g.users, edges };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) return console.log(HELP);
  // --out is ours; everything else goes to the generator's own option parser (the importer's).
  const at = argv.indexOf('--out');
  const out = at >= 0 ? argv[at + 1] : undefined;
  const rest = at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 2)] : argv;
  if (!out) {
    console.error(`herald gen-graph: --out FILE is required\n\n${HELP}`);
    process.exit(2);
  }
  const ui = rest.indexOf('--users');
  const users = ui >= 0 ? Number(rest[ui + 1]) : 100_000;
  if (ui < 0) rest.push('--users', String(users));
  if (!rest.includes('--celebrity-followers')) rest.push('--celebrity-followers', String(Math.floor(users / 2)));
  try {
    const result = await genGraph(rest, out);
    process.stdout.write(JSON.stringify({ gen_graph: 'done', out, ...result }) + '\n');
  } catch (err) {
    console.error(`herald gen-graph: ${(err as Error).message}`);
    process.exit(2);
  }
}

if (require.main === module) void main();
