import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { OptionError, parseOptions, type OptionValues } from '../bench/harness/args';
import { parseOrExit } from '../bench/harness/main';
import { Generator } from './import/Generator';
import { GENERATOR_OPTIONS, generateOptionsOf } from './import/options';

const HELP = `herald gen-graph: write a synthetic bimodal follow graph as CSV (follower,followee,weight).

Usage: npm run gen-graph -- --users N --out FILE [generator options]
  --users N                  users u0..u<N-1> (default 100000)
  --out FILE                 where to write the CSV (npm run import -- --edges FILE loads it)
  --celebrity-followers N    u0..u<N-1> also follow the celebrity (default N / 2)
  and every other generator option of npm run import -- --help (--celebrity, --avg-followings, --seed, ...).

The graph is the importer's --generate graph (the same options and seed give the same edges): one celebrity with
very many followers, everyone else following 5 + Poisson(1) friends drawn uniformly, so followers per account are
tens at most; weights are the follower's affinity (>= 1). Entities are not part of the CSV format.`;

/** The importer's generator options, with gen-graph's own defaults for --users and --celebrity-followers. */
const OPTIONS = {
  ...GENERATOR_OPTIONS,
  users: { type: 'number', default: 100_000, min: 2, integer: true },
  /** Default: --users / 2. */
  'celebrity-followers': { type: 'number', min: 0, integer: true },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The generator's options of a gen-graph command line (--celebrity-followers defaults to half the users). */
function generateOf(v: OptionValues<typeof OPTIONS>) {
  return generateOptionsOf({ ...v, 'celebrity-followers': v['celebrity-followers'] ?? Math.floor(v.users / 2) });
}

/** Writes the graph that the generator options `args` describe to `out` as CSV; resolves with the counts. */
export async function genGraph(args: string[], out: string): Promise<{ users: number; edges: number }> {
  const g = generateOf(parseOptions(args, OPTIONS, { usage: HELP }).values);
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
  const { values } = parseOrExit('herald gen-graph', () => parseOptions(argv, OPTIONS, { usage: HELP }));
  if (values.help) return console.log(HELP);
  const out =
    values.out ??
    parseOrExit('herald gen-graph', (): never => {
      throw new OptionError('out', '--out FILE is required', HELP);
    });
  try {
    const result = await genGraph(argv, out);
    process.stdout.write(JSON.stringify({ gen_graph: 'done', out, ...result }) + '\n');
  } catch (err) {
    console.error(`herald gen-graph: ${(err as Error).message}`);
    process.exit(2);
  }
}

if (require.main === module) void main();
