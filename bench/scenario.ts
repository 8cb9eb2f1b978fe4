import { Type, type Static } from '@sinclair/typebox';
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { validator } from '../gateway/Schema';

/**
 * The scenario file of `npm run bench -- spike` (bench/scenarios/*.json): a synthetic graph, the subscribers,
 * and a timeline of phases, each offering `rate` triggered events/s for `seconds`, plus celebrity tweets at
 * given seconds. Times are seconds from the start of the first phase.
 */
const Ratio = Type.Number({ minimum: 0, maximum: 1 });

export const ScenarioSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    about: Type.Optional(Type.String()),
    graph: Type.Object(
      {
        /** Ordinary users u0..u<users-1>. */
        users: Type.Integer({ minimum: 10, maximum: 1_000_000 }),
        /** Each ordinary user follows a uniform [min, max] of other ordinary users (the low mode of fanout). */
        followings: Type.Tuple([Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 0 })]),
        /** The high mode: each celebrity is followed by users u0..u<followers-1> (who also liked one of its tweets on `topic`). */
        celebrities: Type.Array(
          Type.Object(
            { id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }), followers: Type.Integer({ minimum: 0 }), topic: Type.String({ minLength: 1 }) },
            { additionalProperties: false },
          ),
          { maxItems: 20 },
        ),
        seed: Type.Integer(),
      },
      { additionalProperties: false },
    ),
    /** Users u0..u<subscribers-1> hold a live subscription; latency is measured on what they receive. */
    subscribers: Type.Integer({ minimum: 1, maximum: 5000 }),
    /** Producer sockets the events are spread over (each under the gateway's per-socket message rate). */
    producers: Type.Integer({ minimum: 1, maximum: 64 }),
    /** The sender wakes this often and sends every event whose intended time has come. */
    tickMs: Type.Number({ minimum: 0.5, maximum: 100 }),
    /** Events in one publish frame at most. */
    maxFrameEvents: Type.Integer({ minimum: 1, maximum: 500 }),
    /** Share of triggered events whose recipient is a subscriber (the rest go to any user). */
    subscriberShare: Ratio,
    /** Event types of the triggered traffic, as weights. */
    mix: Type.Object(
      { like: Type.Optional(Ratio), retweet: Type.Optional(Ratio), reply: Type.Optional(Ratio), mention: Type.Optional(Ratio), follow: Type.Optional(Ratio) },
      { additionalProperties: false },
    ),
    phases: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1 }),
          seconds: Type.Number({ exclusiveMinimum: 0, maximum: 600 }),
          rate: Type.Number({ minimum: 0, maximum: 1_000_000 }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
    celebrityTweets: Type.Array(Type.Object({ at: Type.Number({ minimum: 0 }), author: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

export type Scenario = Static<typeof ScenarioSchema>;

/** Reads and checks a scenario: a name under bench/scenarios/ (`spike`) or a path to a JSON file. */
export function loadScenario(nameOrPath: string): Scenario {
  const file = nameOrPath.endsWith('.json')
    ? isAbsolute(nameOrPath)
      ? nameOrPath
      : join(process.cwd(), nameOrPath)
    : join(scenarioDir(), `${nameOrPath}.json`);
  const s = validator(ScenarioSchema)(JSON.parse(readFileSync(file, 'utf8')));
  const celebs = new Set(s.graph.celebrities.map((c) => c.id));
  for (const t of s.celebrityTweets) if (!celebs.has(t.author)) throw new Error(`scenario ${s.name}: celebrity tweet by unknown ${t.author}`);
  for (const c of s.graph.celebrities) if (c.followers > s.graph.users) throw new Error(`scenario ${s.name}: ${c.id} has more followers than users`);
  if (s.subscribers > s.graph.users) throw new Error(`scenario ${s.name}: more subscribers than users`);
  if (s.graph.followings[0] > s.graph.followings[1]) throw new Error(`scenario ${s.name}: followings is [min, max]`);
  if (!Object.values(s.mix).some((w) => (w ?? 0) > 0)) throw new Error(`scenario ${s.name}: mix has no weight`);
  return s;
}

/** bench/scenarios in the source tree (the JSON files are not compiled into dist/). */
export function scenarioDir(): string {
  const here = __dirname.replace(/[\\/]dist[\\/]bench$/, '/bench');
  return join(here, 'scenarios');
}

/** Seconds at which each phase starts, and the total. */
export function phaseStarts(s: Scenario): { starts: number[]; total: number } {
  const starts: number[] = [];
  let t = 0;
  for (const p of s.phases) {
    starts.push(t);
    t += p.seconds;
  }
  return { starts, total: t };
}
