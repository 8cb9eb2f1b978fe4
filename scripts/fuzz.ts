import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode, ExtData } from '@msgpack/msgpack';
import WebSocket from 'ws';
import { parseOptions } from '../bench/harness/args';
import { parseOrExit } from '../bench/harness/main';
import { parentPid, rssBytes } from '../bench/harness/procfs';
import { mulberry32 } from '../bench/harness/random';
import { sleep } from '../bench/harness/sleep';
import { Auth } from '../gateway/Auth';
import { ClusterProcess, isAlive, killQuietly } from './ClusterProcess';

const HELP = `Fuzzes the WebSocket gateway of a real cluster with random and mutated frames.

Usage: npm run fuzz -- [--seconds N] [--frames N] [--sockets N] [--seed N]

  --seconds N   stop after this long (default 60)
  --frames N    stop after this many fuzz frames (default 100000)
  --sockets N   fuzzing sockets, half JSON-leaning, half msgpack-leaning (default 8); 2 more only flood
  --seed N      PRNG seed (default: random, printed); each socket's frame sequence derives from it
  --logs FILE   write what the cluster logged (stderr, warn and up) to FILE

Starts a cluster in a temp data dir (--port 0, a high rate limit so frames are processed), sends random bytes,
truncated / bit-flipped JSON and msgpack, valid messages with mutated fields and valid publishes, reconnects
sockets the server closes, and watches the processes: node pids, gateway alive, /healthz, RSS.
Progress goes to stderr; the last stdout line is one JSON summary. Exits 1 if a process crashed or restarted,
or a /healthz failed.`;

const OPTIONS = {
  seconds: { type: 'number', default: 60, min: 0 },
  frames: { type: 'number', default: 100_000, min: 0 },
  sockets: { type: 'number', default: 8, min: 0 },
  seed: { type: 'number', min: 0 },
  logs: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** One fuzz run: how long, how many frames and sockets, the seed (frames derive from it), where the logs go. */
export interface FuzzOptions {
  seconds: number;
  frames: number;
  sockets: number;
  seed: number;
  /** Writes what the cluster logged to this file. */
  logs?: string;
}

/** `npm run fuzz`'s arguments as FuzzOptions (a random seed when none is given); undefined for --help. */
export function parseFuzzArgs(args: string[]): FuzzOptions | undefined {
  const { values } = parseOptions(args, OPTIONS, { usage: HELP });
  if (values.help) return undefined;
  return {
    seconds: values.seconds,
    frames: values.frames,
    sockets: values.sockets,
    seed: values.seed ?? Math.floor(Math.random() * 2 ** 31),
    logs: values.logs,
  };
}

/** The server's limits for this run: high enough that fuzz sockets are processed, low enough that floods are not. */
const LIMITS = { rateLimitPerSec: 3000, rateBurst: 500, maxPayload: 64 * 1024, maxConnectionsPerUser: 16 };
/** Frames a fuzz socket may have unanswered before it waits for replies. */
const WINDOW = 48;
/** A frame with an id still unanswered this long after it was sent (socket open) counts as unanswered. */
const UNANSWERED_MS = 8000;
const USERS = Array.from({ length: 40 }, (_, i) => `fz${i}`);

// ------------------------------------------------------------------------------------------------ randomness

/**
 * The ids a run gives its events and messages, `<kind><seed>-<n>`: unique in the run (every socket's stream counts
 * on the same counters), and recognisable in the replies (`own`).
 */
export class RunIds {
  event = 0;
  msg = 0;
  /** Matches the message ids this run generated (a mutated id may be anything). */
  readonly own: RegExp;

  constructor(readonly seed: number) {
    this.own = new RegExp(`^[mo]${seed}-\\d+$`);
  }
}

/** A socket's random stream (mulberry32: seedable, good enough to pick mutations), with the run's ids. */
export function prng(seed: number, ids: RunIds) {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  return {
    ids,
    next,
    int,
    chance: (p: number) => next() < p,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)],
    bytes: (n: number) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = int(256);
      return b;
    },
  };
}
type Rng = ReturnType<typeof prng>;

const ODD_STRINGS = [
  '',
  ' ',
  '😀',
  '\u0000',
  '\ud800',
  '\udc00x',
  '\u202e',
  '\ufeff',
  '\uffff',
  'e\u0301',
  'ｆｕｌｌ',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'prototype',
  '../../etc/passwd',
  '!',
  '~log!',
  '0000!t!x!1',
  'null',
  '%ZZ',
  '<script>',
  "'; DROP TABLE users; --",
  'a'.repeat(64),
  'a'.repeat(65),
  'a'.repeat(128),
  'a'.repeat(129),
];
const ODD_NUMBERS = [
  0,
  -0,
  -1,
  1,
  0.5,
  1e308,
  -1e308,
  5e-324,
  2 ** 31,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  2 ** 64,
  -(2 ** 63),
  8.64e15,
  8.64e15 + 1,
  NaN,
  Infinity,
  -Infinity,
];
const OPS = ['publish', 'subscribe', 'timeline', 'read', 'ping'] as const;
const ODD_OPS = [
  '',
  'Publish',
  'PUBLISH',
  'publish ',
  'ack',
  'error',
  'notification',
  'subscribed',
  'delete',
  'admin',
  'x'.repeat(200),
  'toString',
  'constructor',
  '__proto__',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupGetter__',
];
const EVENT_TYPES = ['follow', 'unfollow', 'tweet', 'like', 'retweet', 'reply', 'mention'] as const;

function randString(r: Rng): string {
  switch (r.int(6)) {
    case 0:
      return r.pick(ODD_STRINGS);
    case 1:
      return 'x'.repeat(r.pick([1, 10, 100, 1000, 4000, 4001, 10_000, 30_000]));
    case 2: {
      let s = '';
      const n = r.int(40);
      for (let i = 0; i < n; i++) s += String.fromCharCode(r.int(0x10000));
      return s;
    }
    case 3:
      return r.pick(USERS);
    case 4:
      return r.pick(ODD_STRINGS).repeat(r.int(300) + 1);
    default:
      return Math.random()
        .toString(36)
        .slice(2, 2 + r.int(12));
  }
}

/** Any value: the types a field may be swapped to. `binary` allows msgpack-only ones (bigint, Date, bin, ext). */
function randValue(r: Rng, binary: boolean, depth = 0): unknown {
  const k = r.int(binary ? 14 : 11);
  switch (k) {
    case 0:
      return r.pick(ODD_NUMBERS);
    case 1:
      return r.int(1000);
    case 2:
    case 3:
      return randString(r);
    case 4:
      return r.chance(0.5);
    case 5:
      return null;
    case 6: {
      // Long arrays hold small scalars: the frame stays under maxPayload, and generating it stays cheap.
      const len = depth > 3 ? 0 : r.pick([0, 1, 2, 5, 51, 501]);
      return Array.from({ length: len }, () => (len > 5 || depth > 2 ? r.pick([r.int(9), `u${r.int(99)}`, null]) : randValue(r, binary, depth + 1)));
    }
    case 7: {
      if (depth > 3) return {};
      const o: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i--) o[randString(r).slice(0, 100)] = randValue(r, binary, depth + 1);
      return o;
    }
    case 8: {
      // Nested, within what the encoders recurse through.
      let v: unknown = r.int(9);
      for (let i = r.int(binary ? 90 : 500); i > 0; i--) v = r.chance(0.5) ? [v] : { a: v };
      return v;
    }
    case 9:
      return validEvent(r, r.pick(USERS));
    case 10:
      return undefined;
    case 11:
      return BigInt.asIntN(64, BigInt(r.int(2 ** 31)) * BigInt(r.int(2 ** 31)) * (r.chance(0.5) ? -1n : 1n));
    case 12:
      return r.chance(0.5) ? new Date(r.pick([0, Date.now(), -8.64e15, 8.64e15])) : r.bytes(r.int(64));
    default:
      return new ExtData(r.int(256) - 128, r.bytes(r.int(32)));
  }
}

// ------------------------------------------------------------------------------------------------ messages

/** A valid event by `actor`, of a random type. */
function validEvent(r: Rng, actor: string): Record<string, unknown> {
  const type = r.pick(EVENT_TYPES);
  const other = () => {
    let u = r.pick(USERS);
    while (u === actor) u = r.pick(USERS);
    return u;
  };
  const eventSeq = ++r.ids.event;
  const e: Record<string, unknown> = { id: `ev${r.ids.seed}-${eventSeq}`, type, actor };
  const text = r.chance(0.3) ? randString(r).slice(0, 4000) : 'hello';
  switch (type) {
    case 'follow':
    case 'unfollow':
      e.target = other();
      break;
    case 'tweet':
      e.tweet = { id: `tw${eventSeq}`, author: actor, text, mentions: r.chance(0.5) ? [other(), other()] : [] };
      break;
    case 'mention':
      e.tweet = { id: `tw${eventSeq}`, author: actor, text, mentions: [other()], entities: ['#fuzz'] };
      break;
    default:
      e.tweet = { id: `tw${eventSeq}`, author: other(), text };
  }
  if (r.chance(0.2)) e.ts = Date.now() - r.int(1e6);
  return e;
}

/** A message that is valid for a socket of `user` (any actor for producers). */
function validMessage(r: Rng, user: string, producer: boolean): Record<string, unknown> {
  const id = `m${r.ids.seed}-${++r.ids.msg}`;
  switch (r.pick(['publish', 'publish', 'publish', 'timeline', 'read', 'subscribe', 'ping'] as const)) {
    case 'publish': {
      const n = r.chance(0.9) ? 1 : r.int(20) + 1;
      return { op: 'publish', id, events: Array.from({ length: n }, () => validEvent(r, producer ? r.pick(USERS) : user)) };
    }
    case 'timeline':
      return { op: 'timeline', id, ...(r.chance(0.5) ? { limit: r.int(100) + 1 } : {}), ...(r.chance(0.3) ? { before: r.int(50) } : {}) };
    case 'read':
      return { op: 'read', id, upTo: r.int(100) };
    case 'ping':
      return { op: 'ping', id };
    default:
      return { op: 'subscribe', ...(r.chance(0.5) ? { since: r.int(20) } : {}), ...(r.chance(0.5) ? { id } : {}) };
  }
}

/** Every path to a value inside `v` (objects and arrays), root excluded. */
function paths(v: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = [], depth = 0): Array<Array<string | number>> {
  if (depth > 6 || v === null || typeof v !== 'object' || v instanceof Uint8Array || v instanceof Date || v instanceof ExtData) return out;
  const entries = Array.isArray(v) ? v.map((x, i) => [i, x] as const) : Object.entries(v as object);
  for (const [k, x] of entries.slice(0, 30)) {
    out.push([...prefix, k]);
    paths(x, [...prefix, k], out, depth + 1);
  }
  return out;
}

/** Swaps types, deletes or adds fields, renames the op: 1 to 3 changes to a valid message. */
function mutateFields(r: Rng, msg: Record<string, unknown>, binary: boolean): Record<string, unknown> {
  const m = structuredClone(msg);
  for (let n = r.int(3) + 1; n > 0; n--) {
    const all = paths(m);
    if (!all.length) break;
    const path = r.pick(all);
    let parent: any = m;
    for (const k of path.slice(0, -1)) parent = parent[k];
    const key = path[path.length - 1];
    switch (r.int(6)) {
      case 0:
        if (Array.isArray(parent)) parent.splice(Number(key), 1);
        else delete parent[key];
        break;
      case 1:
        if (!Array.isArray(parent)) parent[r.pick([...ODD_STRINGS.slice(12, 17), 'extra', 'role', 'admin', randString(r).slice(0, 50)])] = randValue(r, binary);
        else parent.push(randValue(r, binary));
        break;
      case 2:
        m.op = r.pick(ODD_OPS);
        break;
      default:
        parent[key] = randValue(r, binary);
    }
  }
  return m;
}

type Frame = { data: string | Buffer; text: boolean; op?: string; id?: string };

const asFrame = (msg: unknown, text: boolean): Frame | null => {
  const o = msg as { op?: unknown; id?: unknown } | null;
  const meta =
    o && typeof o === 'object' && !Array.isArray(o) ? { op: typeof o.op === 'string' ? o.op : undefined, id: typeof o.id === 'string' ? o.id : undefined } : {};
  try {
    if (text) {
      const s = JSON.stringify(msg);
      return s === undefined ? null : { data: s, text, ...meta };
    }
    return { data: Buffer.from(encode(msg, { useBigInt64: true })), text, ...meta };
  } catch {
    return null; // e.g. a bigint in JSON
  }
};

/** One fuzz frame. `binaryBias` is the chance of a msgpack (binary) frame. */
export function nextFrame(r: Rng, user: string, producer: boolean, binaryBias: number): { frame: Frame; kind: string } {
  const binary = r.chance(binaryBias);
  const roll = r.next();
  if (roll < 0.18) {
    const f = asFrame(validMessage(r, user, producer), !binary);
    if (f) return { frame: f, kind: 'valid' };
  }
  if (roll < 0.45) {
    const f = asFrame(mutateFields(r, validMessage(r, user, producer), binary), !binary);
    if (f) return { frame: f, kind: 'mutated_fields' };
  }
  if (roll < 0.55) {
    const f = asFrame(validMessage(r, user, producer), !binary)!;
    const data = typeof f.data === 'string' ? f.data.slice(0, r.int(f.data.length)) : f.data.subarray(0, r.int(f.data.length));
    return { frame: { data, text: f.text }, kind: 'truncated' };
  }
  if (roll < 0.65) {
    const f = asFrame(validMessage(r, user, producer), !binary)!;
    if (typeof f.data === 'string') {
      // Character-level damage keeps text frames valid UTF-8 (invalid UTF-8 closes the socket: see 'bad_utf8').
      const chars = [...f.data];
      for (let n = r.int(4) + 1; n > 0; n--) {
        const at = r.int(chars.length + 1);
        const c = r.pick(['{', '}', '[', ']', '"', ',', ':', '\\', '0', 'e', '-', ' ', '\u0000', '😀', String.fromCharCode(r.int(128))]);
        if (r.chance(0.4)) chars.splice(at, 1);
        else if (r.chance(0.5)) chars.splice(at, 0, c);
        else chars[at] = c;
      }
      return { frame: { data: chars.join(''), text: true }, kind: 'flipped' };
    }
    const b = Buffer.from(f.data);
    for (let n = r.int(4) + 1; n > 0; n--) {
      const at = r.int(b.length);
      if (r.chance(0.5)) b[at] ^= 1 << r.int(8);
      else b[at] = r.int(256);
    }
    return { frame: { data: b, text: false }, kind: 'flipped' };
  }
  if (roll < 0.78) return { frame: { data: r.bytes(r.pick([0, 1, 2, 5, 16, 64, 256, 1024, 4096])), text: false }, kind: 'random_bytes' };
  if (roll < 0.88) {
    const alphabet = '{}[]":,0123456789.eE+-truefalsn \\u"opublishsubscribetimelineread';
    let s = '';
    for (let n = r.int(200); n > 0; n--) s += alphabet[r.int(alphabet.length)];
    return { frame: { data: s, text: true }, kind: 'random_text' };
  }
  if (roll < 0.93) {
    const f = asFrame({ op: r.pick(ODD_OPS), id: `o${r.ids.seed}-${++r.ids.msg}`, ...(r.chance(0.5) ? { since: 1 } : {}) }, !binary)!;
    return { frame: f, kind: 'odd_op' };
  }
  if (roll < 0.96) {
    const depth = r.pick([100, 1000, 10_000, 30_000]);
    if (binary) {
      const head = Buffer.from(encode({ op: r.pick(OPS), id: 'deep', events: 0 })).subarray(0, -1);
      // [[[...1]]] or {a:{a:...1}}: valid msgpack, 100 to 30,000 levels.
      const level = r.chance(0.5) ? Buffer.from([0x91]) : Buffer.from([0x81, 0xa1, 0x61]);
      const nest = Buffer.concat(Array.from({ length: depth }, () => level));
      return { frame: { data: Buffer.concat([head, nest, Buffer.from([0x01])]), text: false }, kind: 'deep_nesting' };
    }
    const open = r.chance(0.5) ? '[' : '{"a":';
    const close = open === '[' ? ']' : '}';
    return { frame: { data: `{"op":"${r.pick(OPS)}","id":"deep","events":${open.repeat(depth)}1${close.repeat(depth)}}`, text: true }, kind: 'deep_nesting' };
  }
  if (roll < 0.985) {
    // msgpack headers that promise far more than the frame holds.
    const lying = r.pick([
      [0xdd, 0xff, 0xff, 0xff, 0xff],
      [0xdf, 0xff, 0xff, 0xff, 0xff],
      [0xdb, 0x7f, 0xff, 0xff, 0xff],
      [0xc6, 0xff, 0xff, 0xff, 0xff],
      [0xc9, 0xff, 0xff, 0xff, 0xff, 0x01],
      [0x81, 0xa2, 0x6f, 0x70, 0xdb, 0xff, 0xff, 0xff, 0xf0],
      [0xdc, 0xff, 0xff],
    ]);
    return { frame: { data: Buffer.concat([Buffer.from(lying), r.bytes(r.int(32))]), text: false }, kind: 'lying_lengths' };
  }
  if (roll < 0.995) {
    const f = asFrame(validMessage(r, user, producer), !binary)!;
    const data = typeof f.data === 'string' ? f.data + (r.chance(0.5) ? f.data : '\ufeff') : Buffer.concat([f.data, f.data]);
    return { frame: { data, text: f.text }, kind: 'concatenated' };
  }
  if (roll < 0.9975) return { frame: { data: 'x'.repeat(LIMITS.maxPayload + 1 + r.int(1000)), text: true }, kind: 'oversize' };
  return { frame: { data: Buffer.from([0x7b, 0xc3, 0x28, 0xff, 0x7d]), text: true }, kind: 'bad_utf8' };
}

// ------------------------------------------------------------------------------------------------ the run

/** What a run counts, reported in its summary. */
function newStats() {
  return {
    frames_sent: 0,
    flood_frames_sent: 0,
    // Null-prototype maps: a key like "toString" must not find Object.prototype's.
    frames_by_kind: Object.create(null) as Record<string, number>,
    replies_by_code: Object.create(null) as Record<string, number>,
    closes_by_code: Object.create(null) as Record<string, number>,
    notifications: 0,
    connects: 0,
    connect_failures: Object.create(null) as Record<string, number>,
    stalls: 0,
    healthz_checks: 0,
    healthz_failures: 0,
    /** Frames with an id that never got an answer while their socket stayed open, by op. */
    unanswered_by_op: Object.create(null) as Record<string, number>,
    /** HERALD_INTERNAL replies whose frame is known (by its id), by the frame's op. */
    internal_by_op: Object.create(null) as Record<string, number>,
    samples: Object.create(null) as Record<string, string[]>,
  };
}
type Stats = ReturnType<typeof newStats>;
const bump = (m: Record<string, number>, k: string, n = 1) => (m[k] = (m[k] ?? 0) + n);
/** Keeps up to two examples of a frame that caused `what`. */
const sample = (stats: Stats, what: string, frame: string | Buffer | undefined) => {
  if (frame === undefined) return;
  const list = (stats.samples[what] ??= []);
  if (list.length < 2) list.push(typeof frame === 'string' ? frame.slice(0, 160) : `base64:${frame.subarray(0, 120).toString('base64')}`);
};
const log = (s: string) => process.stderr.write(`fuzz: ${s}\n`);

/** Resident memory of a process in MB (one decimal); null when unknown. */
function rssMb(pid: number): number | null {
  const bytes = rssBytes(pid);
  return Number.isFinite(bytes) ? Math.round((bytes / 1024 / 1024) * 10) / 10 : null;
}
const sumRss = (pids: number[]) => Math.round(pids.reduce((s, p) => s + (rssMb(p) ?? 0), 0) * 10) / 10;

/** A fuzz socket: its frames in flight, and the answers it counts into the run's stats. */
class Conn {
  inflight = 0;
  open = false;
  private wake?: () => void;
  /** id → frame (for frames whose reply carries the id), to find the unanswered ones. */
  readonly pending = new Map<string, { op: string; data: string | Buffer; at: number }>();

  constructor(
    readonly ws: WebSocket,
    private readonly stats: Stats,
    private readonly ids: RunIds,
  ) {}

  static open(url: string, token: string, stats: Stats, ids: RunIds): Promise<Conn> {
    const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`, { maxPayload: 64 * 1024 * 1024 });
    const conn = new Conn(ws, stats, ids);
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        conn.open = true;
        resolve(conn);
      });
      ws.once('unexpected-response', (req, res) => {
        res.resume();
        req.destroy();
        reject(new Error(`HTTP ${res.statusCode}`));
      });
      ws.on('error', (err) => {
        if (!conn.open) reject(err);
      });
      ws.on('message', (data, isBinary) => conn.onMessage(data as Buffer, isBinary));
      ws.on('close', () => {
        conn.open = false;
        conn.wake?.();
      });
    });
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    const stats = this.stats;
    let msg: { op?: string; code?: string; id?: string };
    try {
      msg = (isBinary ? decode(data) : JSON.parse(data.toString())) as typeof msg;
    } catch {
      bump(stats.replies_by_code, 'UNDECODABLE_REPLY');
      return;
    }
    if (msg.op === 'notification') {
      stats.notifications++;
      return;
    }
    const code = msg.op === 'error' ? String(msg.code) : `ok:${msg.op}`;
    bump(stats.replies_by_code, code);
    if (typeof msg.id === 'string') {
      const sent = this.pending.get(msg.id);
      if (sent) {
        this.pending.delete(msg.id);
        if (code === 'HERALD_INTERNAL') {
          bump(stats.internal_by_op, sent.op);
          sample(stats, `HERALD_INTERNAL op=${sent.op}`, sent.data);
        }
      }
    }
    if (this.inflight > 0) this.inflight--;
    this.wake?.();
  }

  /** Counts (and forgets) frames that got no answer within `ms` while this socket stayed open. */
  sweepUnanswered(ms: number, now = Date.now()): void {
    if (!this.open) return;
    for (const [id, p] of this.pending) {
      if (now - p.at < ms) continue;
      this.pending.delete(id);
      bump(this.stats.unanswered_by_op, p.op);
      sample(this.stats, `unanswered op=${p.op}`, p.data);
    }
  }

  /** Resolves on the next reply or close, false after `ms` without one. */
  waitReply(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(true);
      };
    });
  }

  send(f: Frame): void {
    // Only ids this run generated are unique: a mutated id ('null', a user name...) may repeat.
    if (f.id !== undefined && f.op !== undefined && f.op !== 'subscribe' && this.ids.own.test(f.id))
      this.pending.set(f.id.slice(0, 128), { op: f.op.slice(0, 40), data: f.data, at: Date.now() });
    this.ws.send(f.data, { binary: !f.text });
    this.inflight++;
  }
}

/**
 * One fuzz run against a cluster started for it (in a temp data dir, removed at the end): the summary, and whether
 * it failed (a process crashed or restarted, or /healthz failed).
 */
export async function fuzz(o: FuzzOptions): Promise<{ summary: Record<string, unknown>; failed: boolean }> {
  const stats = newStats();
  const ids = new RunIds(o.seed);
  const dataDir = mkdtempSync(join(tmpdir(), 'herald-fuzz-'));
  const configFile = join(dataDir, 'fuzz-config.json');
  writeFileSync(configFile, JSON.stringify(LIMITS));
  log(`seed ${o.seed}; starting a cluster in ${dataDir}`);
  const cluster = await ClusterProcess.start(['--data', dataDir, '--port', '0', '--config', configFile]).catch((err) => {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  // Whatever happens to this script, the cluster (and its nodes) goes with it, by PID.
  let stopped = false;
  const cleanup = () => {
    if (stopped) return;
    if (cluster.child.exitCode === null && cluster.child.signalCode === null) {
      // Only the gateway's own children: a node pid printed at start may since belong to someone else.
      const children = Object.values(cluster.info.nodes).filter((pid) => parentPid(pid) === cluster.pid);
      killQuietly(cluster.pid);
      for (const pid of children) killQuietly(pid);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  const nodePids = { ...cluster.info.nodes };
  log(`cluster up: gateway pid ${cluster.pid}, nodes ${JSON.stringify(nodePids)}`);
  const auth = Auth.fromDataDir(dataDir);
  const admin = auth.sign('fuzzadmin', 'admin', 3600);

  let crashes = 0;
  let nodeRestarts = 0;
  const restarted = new Set<string>();
  cluster.child.once('exit', (code, signal) => {
    crashes++;
    log(`GATEWAY EXITED (code ${code}, signal ${signal})`);
  });

  const healthz = async (): Promise<boolean> => {
    stats.healthz_checks++;
    try {
      const res = await fetch(`${cluster.info.http}/healthz`, { headers: { authorization: `Bearer ${admin}` }, signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as { ok: boolean; nodes?: Record<string, { ok: boolean; pid?: number }> };
      for (const [id, n] of Object.entries(body.nodes ?? {})) {
        if (n.pid !== undefined && n.pid !== nodePids[id] && !restarted.has(id)) {
          restarted.add(id);
          nodeRestarts++;
          log(`NODE ${id} RESTARTED: pid ${nodePids[id]} -> ${n.pid}`);
        }
      }
      for (const [id, pid] of Object.entries(nodePids)) {
        if (!isAlive(pid) && !restarted.has(id)) {
          restarted.add(id);
          nodeRestarts++;
          log(`NODE ${id} (pid ${pid}) IS GONE`);
        }
      }
      if (res.status !== 200 || !body.ok || !body.nodes) throw new Error(`status ${res.status} ${JSON.stringify(body)}`);
      return true;
    } catch (err) {
      stats.healthz_failures++;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      log(`HEALTHZ FAILED: ${(err as Error).message}${cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})` : ''}`);
      return false;
    }
  };

  await healthz();
  const gatewayBefore = rssMb(cluster.pid);
  const nodesBefore = sumRss(Object.values(nodePids));
  let gatewayPeak = gatewayBefore ?? 0;
  let nodesPeak = nodesBefore;

  const started = Date.now();
  const deadline = started + o.seconds * 1000;
  let finished = false;
  let sendingEnded = 0;
  const done = () => {
    const d = finished || stats.frames_sent >= o.frames || Date.now() >= deadline || crashes > 0;
    if (d && !sendingEnded) sendingEnded = Date.now();
    return d;
  };
  const conns = new Set<Conn>();

  const connect = async (user: string, role: 'user' | 'producer'): Promise<Conn | null> => {
    for (let attempt = 0; !done(); attempt++) {
      try {
        const c = await Conn.open(cluster.info.ws, auth.sign(user, role, 3600), stats, ids);
        stats.connects++;
        conns.add(c);
        c.ws.on('close', (code) => {
          conns.delete(c);
          if (!finished) bump(stats.closes_by_code, String(code));
        });
        return c;
      } catch (err) {
        bump(stats.connect_failures, (err as Error).message.slice(0, 60));
        await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
    return null;
  };

  /** A fuzz socket: keeps up to WINDOW frames unanswered, reconnects when the server closes it. */
  const fuzzer = async (slot: number) => {
    const r = prng(o.seed * 1000 + slot, ids);
    const user = `fz${slot}`;
    const producer = slot % 2 === 0;
    const binaryBias = slot < o.sockets / 2 ? 0.25 : 0.75;
    let lastSent: string | Buffer | undefined;
    while (!done()) {
      const c = await connect(user, producer ? 'producer' : 'user');
      if (!c) return;
      let sentHere = 0;
      while (!done() && c.open) {
        if (c.inflight >= WINDOW || c.ws.bufferedAmount > 1 << 20) {
          if (!(await c.waitReply(2000)) && c.open) {
            stats.stalls++;
            sample(stats, 'stall (last frame before)', lastSent);
            c.inflight = 0;
          }
          continue;
        }
        const { frame, kind } = nextFrame(r, user, producer, binaryBias);
        c.send(frame);
        lastSent = frame.data;
        stats.frames_sent++;
        sentHere++;
        bump(stats.frames_by_kind, kind);
        if (sentHere % 8 === 0) await new Promise((res) => setImmediate(res));
      }
      if (!c.open) {
        // Closed by the server: what was pending there died with it.
        c.pending.clear();
        await sleep(20);
      } else {
        // Done: give the last replies a moment, then count what never came.
        for (let t = 0; c.pending.size && t < 3000 && c.open; t += 50) await sleep(50);
        c.sweepUnanswered(0);
      }
    }
  };

  /** A flood socket: bursts far past the rate limit; the surplus must come back HERALD_RATE_LIMITED. */
  const flooder = async (slot: number) => {
    const user = `flood${slot}`;
    while (!done()) {
      const c = await connect(user, 'user');
      if (!c) return;
      while (!done() && c.open) {
        // Cheap frames (no node call): the point is the bucket, not the load.
        for (let i = 0; i < LIMITS.rateBurst * 2 && c.open; i++) {
          c.ws.send(i % 2 ? JSON.stringify({ op: 'nope', id: `fl${i}` }) : Buffer.from(encode({ op: 'subscribe', bogus: i })));
          stats.flood_frames_sent++;
        }
        await sleep(2000);
      }
    }
  };

  const monitor = (async () => {
    let last = 0;
    while (!done()) {
      await sleep(1000);
      for (const c of conns) c.sweepUnanswered(UNANSWERED_MS);
      gatewayPeak = Math.max(gatewayPeak, rssMb(cluster.pid) ?? 0);
      nodesPeak = Math.max(nodesPeak, sumRss(Object.values(nodePids)));
      const secs = Math.round((Date.now() - started) / 1000);
      if (secs - last >= 5) {
        last = secs;
        await healthz();
        const top = Object.entries(stats.replies_by_code)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 6)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        log(
          `${secs}s: ${stats.frames_sent} frames (${Math.round(stats.frames_sent / Math.max(1, secs))}/s), flood ${stats.flood_frames_sent}, ` +
            `closes ${JSON.stringify(stats.closes_by_code)}, gateway ${rssMb(cluster.pid)} MB; ${top}`,
        );
      }
    }
  })();

  await Promise.all([...Array.from({ length: o.sockets }, (_, i) => fuzzer(i)), flooder(0), flooder(1), monitor]);
  finished = true;
  const seconds = Math.round((sendingEnded - started) / 100) / 10;
  for (const c of conns) c.ws.terminate();
  log(`sent ${stats.frames_sent} frames in ${seconds}s; checking the cluster`);

  await sleep(1000);
  const healthyAtEnd = crashes === 0 && (await healthz());
  const gatewayAfter = rssMb(cluster.pid);
  const nodesAfter = sumRss(Object.values(nodePids));
  for (const [id, pid] of Object.entries(nodePids)) {
    if (!isAlive(pid) && !restarted.has(id)) {
      restarted.add(id);
      nodeRestarts++;
    }
  }
  const gatewayAlive = crashes === 0 && isAlive(cluster.pid);
  const errorLines = cluster.logs.split('\n').filter((l) => l.includes('"level":50') || l.includes('"level":60'));

  if (o.logs) writeFileSync(o.logs, cluster.logs);
  cluster.child.removeAllListeners('exit');
  const exitCode = await cluster.stop();
  stopped = true;
  rmSync(dataDir, { recursive: true, force: true });

  const summary = {
    fuzz: true,
    seed: o.seed,
    frames_sent: stats.frames_sent,
    flood_frames_sent: stats.flood_frames_sent,
    frames_by_kind: stats.frames_by_kind,
    replies_by_code: stats.replies_by_code,
    closes_by_code: stats.closes_by_code,
    notifications: stats.notifications,
    connects: stats.connects,
    connect_failures: stats.connect_failures,
    unanswered_by_op: stats.unanswered_by_op,
    internal_by_op: stats.internal_by_op,
    stalls: stats.stalls,
    crashes,
    node_restarts: nodeRestarts,
    healthz_checks: stats.healthz_checks,
    healthz_failures: stats.healthz_failures,
    gateway_alive: gatewayAlive,
    error_log_lines_tail: errorLines.length,
    gateway_rss_before_mb: gatewayBefore,
    gateway_rss_after_mb: gatewayAfter,
    gateway_rss_peak_mb: gatewayPeak,
    nodes_rss_before_mb: nodesBefore,
    nodes_rss_after_mb: nodesAfter,
    nodes_rss_peak_mb: nodesPeak,
    cluster_exit_code: exitCode,
    samples: stats.samples,
    seconds,
  };
  const failed = crashes > 0 || nodeRestarts > 0 || stats.healthz_failures > 0 || !healthyAtEnd || !gatewayAlive;
  if (failed) log('FAILED: a process crashed or restarted, or /healthz failed');
  return { summary, failed };
}

/** `npm run fuzz -- [options]`: one run; its summary is the last stdout line; exit 1 when it failed, 2 on an error. */
export async function main(args: string[]): Promise<void> {
  const o = parseOrExit('fuzz', () => parseFuzzArgs(args));
  if (!o) {
    console.log(HELP);
    process.exit(0);
  }
  const { summary, failed } = await fuzz(o);
  console.log(JSON.stringify(summary));
  process.exit(failed ? 1 : 0);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`fuzz: ${err?.stack ?? err}`);
    process.exit(2);
  });
}
