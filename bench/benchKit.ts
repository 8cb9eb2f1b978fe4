import { Decoder, Encoder } from '@msgpack/msgpack';
import { execSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { cpuMeter, cpuSeconds, hostBusySeconds, hostLoad } from './cpu';

// One /proc reader and CPU meter for every benchmark (bench/cpu.ts).
export { cpuMeter, cpuSeconds, hostBusySeconds, hostLoad };

/**
 * Shared pieces of `bench/delivery.ts` and `bench/rebalance.ts`: a msgpack WebSocket client of the gateway,
 * live subscribers that time every notification from its event's INTENDED send time, an open-loop producer
 * (coordinated-omission safe), percentiles, CPU meters. Self-contained on purpose: it depends only on the
 * committed parts of herald.
 */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const round = (n: number, d = 2): number | null => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : null);

/** Exact percentiles over every sample (ms). */
export class Samples {
  private v: number[] = [];
  private sorted = true;
  record(ms: number): void {
    this.v.push(ms);
    this.sorted = false;
  }
  get count(): number {
    return this.v.length;
  }
  /** Nearest rank; NaN when empty. */
  percentile(p: number): number {
    if (!this.v.length) return NaN;
    if (!this.sorted) {
      this.v.sort((a, b) => a - b);
      this.sorted = true;
    }
    return this.v[Math.min(this.v.length, Math.max(1, Math.ceil((p / 100) * this.v.length))) - 1];
  }
  get max(): number {
    return this.percentile(100);
  }
  summary(): { n: number; p50_ms: number | null; p99_ms: number | null; p999_ms: number | null; max_ms: number | null } {
    return { n: this.count, p50_ms: round(this.percentile(50)), p99_ms: round(this.percentile(99)), p999_ms: round(this.percentile(99.9)), max_ms: round(this.max) };
  }
}

export type Msg = {
  op: string;
  id?: string;
  code?: string;
  message?: string;
  offset?: number;
  notification?: Notification;
};

export type Notification = { offset: number; eventIds: string[]; type?: string; tweetId?: string };

const encoder = new Encoder();
const decoder = new Decoder();

/** A msgpack WebSocket client of the gateway. */
export class Client {
  private constructor(readonly ws: WebSocket) {}

  static connect(url: string, token: string, onMessage: (m: Msg) => void): Promise<Client> {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => onMessage(decoder.decode(data) as Msg));
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('error', reject);
    });
  }

  send(msg: object): void {
    this.ws.send(encoder.encode(msg), { binary: true });
  }
}

/** Event id carrying its intended send time (µs on this process's performance clock): `L<seq>.<µs>`. */
export const timedId = (seq: number, intendedMs: number) => `L${seq}.${Math.round(intendedMs * 1000)}`;
/** The sequence number of a timed id. */
export const seqOf = (id: string) => Number(id.slice(1, id.indexOf('.')));
/** The intended send time (ms) of a timed id, or undefined for another id. */
export function intendedOf(id: string): number | undefined {
  if (id.charCodeAt(0) !== 76 /* L */) return undefined;
  const dot = id.indexOf('.');
  return dot < 0 ? undefined : Number(id.slice(dot + 1)) / 1000;
}

/**
 * Live subscribers, one socket per user: every notification of a timed event reports its latency (arrival −
 * intended send time) to `onLatency`, or goes to the user's own handler (`one`); offsets must arrive in order
 * with no gap.
 */
export class Subscribers {
  gaps = 0;
  closes = 0;
  errors = 0;
  delivered = 0;

  constructor(
    private readonly onLatency?: (intendedMs: number, latencyMs: number, user: string, eventId: string) => void,
    readonly sockets: WebSocket[] = [],
  ) {}

  async subscribe(url: string, users: string[], token: (user: string) => string, log: (s: string) => void, parallel = 50): Promise<void> {
    for (let i = 0; i < users.length; i += parallel) {
      await Promise.all(users.slice(i, i + parallel).map((u) => this.one(url, u, token(u), log)));
    }
  }

  /** Subscribes `user`'s socket; resolves once subscribed. Each notification goes to `onNotification`. */
  async one(url: string, user: string, token: string, log: (s: string) => void, onNotification = (n: Notification) => this.timed(user, n)): Promise<void> {
    let last = -1;
    let ready!: () => void;
    const subscribed = new Promise<void>((r) => (ready = r));
    const client = await Client.connect(url, token, (m) => {
      if (m.op === 'notification') {
        const n = m.notification!;
        if (last >= 0 && n.offset !== last + 1) this.gaps++;
        last = n.offset;
        onNotification(n);
      } else if (m.op === 'subscribed') {
        last = m.offset!;
        ready();
      } else if (m.op === 'error') {
        this.errors++;
        if (this.errors <= 5) log(`subscriber ${user} error: ${m.code} ${m.message}`);
      }
    });
    client.ws.on('close', () => this.closes++);
    this.sockets.push(client.ws);
    client.send({ op: 'subscribe' });
    await subscribed;
  }

  /** The latency of a timed event's notification (its newest event id carries the intended send time). */
  private timed(user: string, n: Notification): void {
    const id = n.eventIds[n.eventIds.length - 1] ?? '';
    const intended = intendedOf(id);
    if (intended === undefined) return;
    this.delivered++;
    this.onLatency?.(intended, performance.now() - intended, user, id);
  }

  close(): void {
    for (const ws of this.sockets) ws.terminate();
  }
}

/**
 * An open-loop producer: frame k of `frameEvents` events is due at t0 + k × frameEvents / rate, and every 1-2 ms
 * the frames whose time has come are published (round robin over the sockets: the gateway allows each socket a
 * few hundred messages/s). Every event carries its frame's intended time (timedId), so a stalled sender or server
 * shows as latency at the subscriber, never as missing samples.
 */
export class OpenLoop {
  private readonly producers: Client[] = [];
  private readonly pending = new Map<string, { intended: number; count: number }>();
  private publishSeq = 0;
  seq = 0;
  acked = 0;
  rejected: Record<string, number> = {};
  maxLagMs = 0;
  readonly ackLatency = new Samples();
  private stopped = false;
  private done?: Promise<void>;

  constructor(
    private readonly o: { rate: number; frameEvents: number; makeEvent: (seq: number, id: string) => object },
  ) {}

  async connect(url: string, token: (p: number) => string, sockets: number): Promise<WebSocket[]> {
    for (let p = 0; p < sockets; p++) {
      const client = await Client.connect(url, token(p), (m) => {
        const pub = m.id !== undefined ? this.pending.get(m.id) : undefined;
        if (!pub) {
          if (m.op === 'error') this.rejected[m.code ?? '?'] = (this.rejected[m.code ?? '?'] ?? 0) + 1;
          return;
        }
        this.pending.delete(m.id!);
        if (m.op === 'ack') {
          this.acked += pub.count;
          this.ackLatency.record(performance.now() - pub.intended);
        } else this.rejected[m.code ?? '?'] = (this.rejected[m.code ?? '?'] ?? 0) + pub.count;
      });
      this.producers.push(client);
    }
    return this.producers.map((c) => c.ws);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Starts offering; runs until `stop()` (or `maxMs`). */
  start(maxMs = Infinity): void {
    const intervalMs = (1000 * this.o.frameEvents) / this.o.rate;
    const t0 = performance.now() + 5;
    this.stopped = false;
    this.done = new Promise<void>((resolve) => {
      let k = 0;
      const tick = () => {
        const now = performance.now();
        while (!this.stopped && t0 + k * intervalMs <= now && k * intervalMs < maxMs) {
          const intended = t0 + k * intervalMs;
          this.maxLagMs = Math.max(this.maxLagMs, now - intended);
          const events = [];
          for (let i = 0; i < this.o.frameEvents; i++) {
            const seq = this.seq++;
            events.push(this.o.makeEvent(seq, timedId(seq, intended)));
          }
          const id = `p${this.publishSeq++}`;
          this.pending.set(id, { intended, count: this.o.frameEvents });
          this.producers[k % this.producers.length].send({ op: 'publish', id, events });
          k++;
        }
        if (this.stopped || k * intervalMs >= maxMs) return resolve();
        setTimeout(tick, Math.max(0, Math.min(2, t0 + k * intervalMs - performance.now())));
      };
      setTimeout(tick, 5);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** Closes the producer sockets. */
  close(): void {
    for (const c of this.producers) c.ws.close();
  }

  /** Resolves when the run started by `start(maxMs)` has offered everything (or was stopped). */
  finished(): Promise<void> {
    return this.done ?? Promise.resolve();
  }
}

/** The commit the benchmark ran on (`git rev-parse --short HEAD`, `+dirty` with uncommitted changes), or null. */
export function gitCommit(): string | null {
  try {
    const cwd = join(__dirname, '..', '..');
    const head = execSync('git rev-parse --short HEAD', { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execSync('git status --porcelain --untracked-files=no', { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() !== '';
    return head + (dirty ? '+dirty' : '');
  } catch {
    return null;
  }
}

/** JSON over HTTP with a bearer token; throws on a non-2xx answer. */
export async function http<T = any>(base: string, token: string, method: string, path: string, body?: object): Promise<T> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

/**
 * Diagnostics of the cluster's processes through bench/probe.ts (preloaded with NODE_OPTIONS=--require, it is not
 * part of herald): `env` for ClusterProcess.start, then `window(name, pids)` around a phase: SIGUSR2 starts the
 * probe in every process, the second SIGUSR2 makes each write its file (V8 CPU profile, or stage timings and
 * event-loop delay), moved into DIR/<name>/.
 */
export class Probe {
  constructor(
    readonly mode: 'profile' | 'stages' | 'trace',
    readonly dir: string,
  ) {}

  static from(profileDir: string | undefined, stagesDir: string | undefined, traceDir?: string): Probe | undefined {
    if (profileDir) return new Probe('profile', profileDir);
    if (stagesDir) return new Probe('stages', stagesDir);
    if (traceDir) return new Probe('trace', traceDir);
    return undefined;
  }

  env(): NodeJS.ProcessEnv {
    mkdirSync(this.dir, { recursive: true });
    return {
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${join(__dirname, 'probe.js')}`.trim(),
      HERALD_BENCH_PROBE: this.mode,
      HERALD_BENCH_PROBE_DIR: resolve(this.dir),
    };
  }

  /** Starts the probes; the returned function stops them and files their output under DIR/<name>/. */
  window(name: string, pids: number[]): () => Promise<string> {
    const signal = () => {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGUSR2');
        } catch {
          /* gone */
        }
      }
    };
    signal();
    return async () => {
      signal();
      await sleep(1500);
      const out = join(this.dir, name);
      mkdirSync(out, { recursive: true });
      for (const f of readdirSync(this.dir)) if (/\.(cpuprofile|stages\.json|trace\.json)$/.test(f)) renameSync(join(this.dir, f), join(out, f));
      return out;
    };
  }
}

/**
 * A benchmark's data kept between runs (`--template DIR`): `make` fills `dataDir` and returns what describes it;
 * the first run saves both in DIR, later runs with the same `key` copy them instead of making them again.
 */
export async function fromTemplate<T>(template: string | undefined, key: string, dataDir: string, make: () => Promise<T>): Promise<{ made: T; copied: boolean }> {
  const file = template ? join(template, 'bench-data.json') : '';
  if (template && existsSync(file)) {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { key?: string; made: T };
    if (kept.key === key) {
      rmSync(dataDir, { recursive: true, force: true });
      cpSync(template, dataDir, { recursive: true });
      return { made: kept.made, copied: true };
    }
  }
  const made = await make();
  if (template) {
    rmSync(template, { recursive: true, force: true });
    cpSync(dataDir, template, { recursive: true });
    writeFileSync(file, JSON.stringify({ key, made }));
  }
  return { made, copied: false };
}
