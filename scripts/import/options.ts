import type { UserId } from '../../core/Event';
import { DEFAULT_PROFILE } from '../../core/config';
import { OptionError, parseOptions, type OptionValues } from '../../bench/harness/args';
import type { GenerateOptions } from './Generator';
import type { ImportOptions } from './importGraph';

/** `npm run import`'s command line: its help, its options and their defaults, read into ImportOptions. */

export const HELP = `herald import: write a social graph into the node LevelDBs of a STOPPED cluster.

Usage: npm run import -- --data DIR (--generate [generator options] | --file graph.jsonl | --edges graph.csv) [options]

  --data DIR                 the cluster's data dir (default ./data); <DIR>/cluster.json is created if absent
  --shards S, --nodes N      shard count and local node count when cluster.json is created (default 256, 3)
  --file FILE                JSON lines: {"follower","followee","affinity"?,"entities"?} ("affinity": the
                             follower's total affinity to the followee, >= 1 as the follow counts 1; "entities":
                             entities of the followee's tweets the follower engaged with)
  --edges FILE               CSV: follower,followee[,weight] per line (weight as "affinity" above; an optional
                             header line follower,followee,...), e.g. from npm run gen-graph
  --generate                 a synthetic bimodal graph instead (seeded: the same options give the same graph):
    --celebrity ID             the celebrity (default celeb)
    --celebrity-followers N    users u0..u<N-1> follow the celebrity (default 1000000)
    --users N                  users u0..u<N-1> in all (default: --celebrity-followers)
    --min-followings M         other users each user follows: M + Poisson(K - M) ... (default 5)
    --avg-followings K         ... so K on average (default 6); friends are drawn uniformly among the users
    --entities-per-user E      entities each user engaged with, Zipf(1) over the vocabulary (default 5)
    --vocabulary V             entities topic0..topic<V-1> (default 1000)
    --friend-engagement X      mean extra affinity to a followed user (exponential; default 4)
    --fan-fraction P           share of the celebrity's followers who are fans (default 0.1) ...
    --fan-engagement X         ... with this mean extra affinity to it (exponential; default 20)
    --celebrity-engagement X   mean extra affinity of the other followers to it (exponential; default 0.05)
    --seed S                   (default 42)
  --expect-author ID         also report whom the default policy picks for a tweet by ID ...
  --expect-entities a,b      ... with these entities (with --generate: the celebrity, topic20,topic60)
  --sample N                 chosen (and not chosen) followers listed per node in the report (default 3)
  --batch OPS                ops per chained batch (default 5000)
  --no-progress              no progress bar
  --dry-run                  build the graph and the report, write nothing
  -h, --help                 this text

The cluster must be stopped: its nodes hold their LevelDB's LOCK, and the import refuses to run then.
Progress goes to stderr; the last stdout line is one JSON object with the counts and the rate.`;

/** The generator's options, shared with `npm run gen-graph` (defaults as `npm run import -- --help` lists them). */
export const GENERATOR_OPTIONS = {
  celebrity: { type: 'string', default: 'celeb' },
  'celebrity-followers': { type: 'number', default: 1_000_000, min: 0, integer: true },
  /** Default: --celebrity-followers (at least 2). */
  users: { type: 'number', min: 2, integer: true },
  'min-followings': { type: 'number', default: 5, min: 0, integer: true },
  'avg-followings': { type: 'number', default: 6, min: 0 },
  'entities-per-user': { type: 'number', default: 5, min: 0, integer: true },
  vocabulary: { type: 'number', default: 1000, min: 1, integer: true },
  'friend-engagement': { type: 'number', default: 4, min: 0 },
  'fan-fraction': { type: 'number', default: 0.1, min: 0 },
  'fan-engagement': { type: 'number', default: 20, min: 0 },
  'celebrity-engagement': { type: 'number', default: 0.05, min: 0 },
  seed: { type: 'number', default: 42, min: 0, integer: true },
} as const;

const IMPORT_OPTIONS = {
  data: { type: 'string', default: './data' },
  shards: { type: 'number', default: 256, min: 1, integer: true },
  nodes: { type: 'number', default: 3, min: 1, integer: true },
  file: { type: 'string' },
  edges: { type: 'string' },
  generate: { type: 'boolean' },
  ...GENERATOR_OPTIONS,
  'expect-author': { type: 'string' },
  'expect-entities': { type: 'string', default: '' },
  sample: { type: 'number', default: 3, min: 0, integer: true },
  batch: { type: 'number', default: 5000, min: 1, integer: true },
  'no-progress': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The synthetic graph the generator options describe, checked as a whole; throws OptionError. */
export function generateOptionsOf(v: OptionValues<typeof GENERATOR_OPTIONS>): GenerateOptions {
  const celebrityFollowers = v['celebrity-followers'];
  const g: GenerateOptions = {
    celebrity: v.celebrity,
    celebrityFollowers,
    users: v.users ?? Math.max(celebrityFollowers, 2),
    minFollowings: v['min-followings'],
    avgFollowings: v['avg-followings'],
    entitiesPerUser: v['entities-per-user'],
    vocabulary: v.vocabulary,
    friendEngagement: v['friend-engagement'],
    fanFraction: v['fan-fraction'],
    fanEngagement: v['fan-engagement'],
    celebrityEngagement: v['celebrity-engagement'],
    seed: v.seed,
  };
  if (g.avgFollowings < g.minFollowings) throw new OptionError('avg-followings', '--avg-followings must be at least --min-followings');
  if (g.fanFraction > 1) throw new OptionError('fan-fraction', '--fan-fraction is a share: 0..1');
  if (g.users < g.celebrityFollowers) throw new OptionError('users', '--users must be at least --celebrity-followers');
  if (/^u\d+$/.test(g.celebrity) || g.celebrity.includes('!'))
    throw new OptionError('celebrity', '--celebrity must not look like a generated user id (u<n>) nor hold "!"');
  return g;
}

/** `npm run import`'s arguments as ImportOptions; undefined for --help. Throws OptionError on a bad command line. */
export function parseImportArgs(args: string[]): ImportOptions | undefined {
  const { values } = parseOptions(args, IMPORT_OPTIONS, { usage: HELP });
  if (values.help) return undefined;
  if ([values.generate, values.file, values.edges].filter(Boolean).length !== 1)
    throw new OptionError('', 'give exactly one of --generate, --file FILE and --edges FILE');
  const generate = values.generate ? generateOptionsOf(values) : undefined;
  return {
    dataDir: values.data,
    shards: values.shards,
    nodes: values.nodes,
    generate,
    file: values.file ?? values.edges,
    csv: !!values.edges,
    expectAuthor: values['expect-author'] as UserId | undefined,
    expectEntities: values['expect-entities']
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    sample: values.sample,
    batchOps: values.batch,
    progress: !values['no-progress'],
    dryRun: values['dry-run'],
    profile: DEFAULT_PROFILE,
    log: (s) => process.stderr.write(`[import] ${s}\n`),
  };
}
