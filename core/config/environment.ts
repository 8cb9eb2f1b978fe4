import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { HeraldError } from '../HeraldError';
import { LogLevelSchema } from './schema';

/**
 * The environment variables herald reads, with their defaults: the only place that reads `process.env`. They
 * are for what a process inherits from the one that started it (a log level for a whole test run, the address a
 * listener's nodes bind, a benchmark's probe), not options: options are the config schema.
 */
const EnvironmentSchema = Type.Object({
  /** Log level of every process started from this environment; wins over the config's `logLevel`. */
  HERALD_LOG_LEVEL: Type.Optional(LogLevelSchema),
  /** V8 flags of herald's processes, space-separated (cluster/V8Flags.ts); empty runs with V8's defaults. */
  HERALD_V8_FLAGS: Type.String({ default: '--max-semi-space-size=32 --initial-old-space-size=128' }),
  /** The private address a node binds its ports to: a listener's (remote mode), set by the listener for its nodes. */
  COMEDY_BIND_HOST: Type.String({ default: '127.0.0.1' }),
  /** A benchmark's probe in this process: the folder it writes its trace to, and what it records (bench/probe.ts). */
  HERALD_BENCH_PROBE_DIR: Type.Optional(Type.String()),
  HERALD_BENCH_PROBE: Type.Optional(Type.String()),
  /** Node's own options, read only to extend them for a child (a benchmark's probe preload). */
  NODE_OPTIONS: Type.Optional(Type.String()),
});

export type Environment = Static<typeof EnvironmentSchema>;

/** The herald variables of `env` with their defaults; throws HERALD_INVALID_CONFIG naming a bad one. */
export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  // An empty value is unset, but for the V8 flags, where it means none.
  const given = (k: string) => env[k] !== undefined && (env[k] !== '' || k === 'HERALD_V8_FLAGS');
  const known = Object.fromEntries(Object.keys(EnvironmentSchema.properties).flatMap((k) => (given(k) ? [[k, env[k]]] : [])));
  const out = Value.Default(EnvironmentSchema, known) as Environment;
  const first = Value.Errors(EnvironmentSchema, out).First();
  if (first) throw new HeraldError('HERALD_INVALID_CONFIG', `invalid environment variable ${first.path.slice(1)}: ${first.message}`);
  return out;
}

/** The environment of a child process: this one's, with `changes` set (undefined removes a variable). */
export function childEnvironment(changes: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Sets a variable for this process and those it starts later (a listener hands its bind address to its nodes). */
export function setEnvironment(name: keyof Environment, value: string): void {
  process.env[name] = value;
}
