import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterProcess, TestData } from '../support/cluster';
import { waitFor } from '../support/waitFor';
import { check, readTimeline, type Entry } from './Checker';
import { Health, isNodeProcess, signal } from './faults';
import { LoadDriver, sleep } from './LoadDriver';
import { Subscriber } from './Subscribers';

/**
 * Reliability under faults, on a real cluster (gateway + 3 forked nodes): a steady producer load with retries
 * runs while nodes are SIGKILLed, bounced with SIGTERM, SIGSTOPped past the liveness timeout, the gateway is
 * restarted, and subscribers are dropped. Afterwards every acked event must be on its recipient's timeline
 * exactly once, with offsets exactly 1..N, and subscribers must have received the timeline without gaps or
 * duplicates. Prints one JSON line with the figures.
 */
const CI = !!process.env.CI;
const RATE = Number(process.env.FAULT_RATE) || (CI ? 200 : 300);
/** Load between two faults: a deliberate pause under load (bounded), not a wait for a condition. */
const DWELL_MS = CI ? 600 : 1500;
/** Default livenessTimeoutMs (core/config.ts). */
const LIVENESS_TIMEOUT_MS = 5_000;
const RECIPIENTS = Array.from({ length: 30 }, (_, i) => `r${String(i).padStart(2, '0')}`);
const ACTORS = Array.from({ length: 10 }, (_, i) => `a${i}`);
const NODES = ['node-1', 'node-2', 'node-3'];
/** Events published at once right before each SIGKILL, and how long after them each kill comes. */
const BURST = 300;
const KILL_DELAYS_MS = [3, 8, 15, 30, 60];

describe('reliability: no acked event lost, duplicated or out of order under node, gateway and client faults', () => {
  const data = new TestData();
  const configFile = join(data.dir, 'fault-config.json');
  const gateways: ClusterProcess[] = [];
  const pids = new Set<number>();
  let cluster: ClusterProcess;
  let driver: LoadDriver | undefined;
  const subscribers: Subscriber[] = [];
  const adminToken = () => data.token('ops', 'admin');
  const health = new Health(() => cluster.info.http, adminToken, pids);

  async function start(): Promise<void> {
    // Info logs: the checker reports how many events nodes replayed from their ingest logs, and liveness kills.
    cluster = await ClusterProcess.start(['--data', data.dir, '--port', '0', '--config', configFile], { env: { HERALD_LOG_LEVEL: 'info' } });
    gateways.push(cluster);
    pids.add(cluster.pid);
    for (const pid of Object.values(cluster.info.nodes)) pids.add(pid);
  }

  beforeAll(async () => {
    // Retention high enough that no entry of this run is dropped: a dropped entry would read as a loss.
    writeFileSync(configFile, JSON.stringify({ timelineMax: 100_000 }));
    await start();
  });

  afterAll(async () => {
    driver?.close();
    for (const s of subscribers) s.close();
    for (const g of gateways) await g.stop('SIGTERM', 5_000).catch(() => undefined);
    // Whatever outlived its gateway (a node SIGSTOPped and never resumed, a respawn racing the stop): by PID.
    for (const pid of pids) {
      if (!isNodeProcess(pid)) continue;
      signal(pid, 'SIGKILL');
      signal(pid, 'SIGCONT');
    }
    data.remove();
  });

  it('survives 5 SIGKILLs, a SIGTERM bounce, a SIGSTOP past liveness, a gateway restart and subscriber drops', async () => {
    const began = Date.now();
    const faults: Array<Record<string, unknown>> = [];
    const fault = async (name: string, fn: () => Promise<Record<string, unknown> | void>) => {
      const t0 = Date.now();
      const extra = (await fn()) ?? {};
      faults.push({ fault: name, ms: Date.now() - t0, ...extra });
    };
    const allSubscribed = (timeoutMs = 30_000) =>
      waitFor(
        'every subscriber subscribed (those not yet)',
        () => subscribers.filter((s) => !s.isSubscribed).map((s) => s.describe()),
        (stuck) => stuck.length === 0,
        {
          timeoutMs,
          everyMs: 50,
        },
      ).catch((err: Error) => {
        throw new Error(`${err.message}\ngateway log tail:\n${cluster.logs.slice(-3000)}`);
      });

    // Subscribers first (since 0), so they see every entry live or replayed.
    for (const user of RECIPIENTS) {
      const s = new Subscriber(
        user,
        () => cluster.info.ws,
        () => data.token(user),
      );
      subscribers.push(s);
      s.connect();
    }
    await allSubscribed();

    driver = new LoadDriver({
      url: () => cluster.info.ws,
      token: () => data.token('load', 'producer'),
      recipients: RECIPIENTS,
      actors: ACTORS,
      ratePerSec: RATE,
      sockets: 3,
      runId: `run${Date.now().toString(36)}`,
    });
    driver.start();
    await sleep(DWELL_MS * 2);

    // 1. SIGKILL a node 5 times in a row, waiting for each respawn. The third also drops a third of the
    //    subscribers while their owner may be down (their resume waits for it).
    for (let i = 0; i < 5; i++) {
      await fault('SIGKILL', async () => {
        if (i === 2) subscribers.filter((_, j) => j % 3 === 0).forEach((s) => s.kill());
        // A burst first, and the kill a few ms later (a different delay each time), so it lands while the node
        // writes its ingest log or applies a batch: the respawned node has log entries to replay.
        const node = NODES[i % NODES.length];
        const pid = await health.pidOf(node);
        driver!.burst(BURST);
        await sleep(KILL_DELAYS_MS[i]);
        expect(signal(pid, 'SIGKILL')).toBe(true);
        return { node, pid, afterMs: KILL_DELAYS_MS[i], respawned: await health.waitRespawn(node, pid) };
      });
      await sleep(DWELL_MS);
    }

    // 2. Bounce a node with SIGTERM (a clean stop: it closes its LevelDB; comedy respawns it).
    //    With a burst in flight, it closes its store under work in progress.
    await fault('SIGTERM', async () => {
      const node = 'node-1';
      const pid = await health.pidOf(node);
      driver!.burst(BURST);
      await sleep(10); // the fault's timing: lands while the burst is being written
      expect(signal(pid, 'SIGTERM')).toBe(true);
      return { node, pid, respawned: await health.waitRespawn(node, pid) };
    });
    await sleep(DWELL_MS);

    // 3. SIGSTOP a node past the liveness timeout: the gateway must SIGKILL it so comedy respawns it; then SIGCONT
    //    (a no-op on a killed process; it would wake a node the gateway failed to fence).
    await fault('SIGSTOP', async () => {
      const node = 'node-2';
      const pid = await health.pidOf(node);
      driver!.burst(BURST);
      await sleep(10); // the fault's timing: lands while the burst is being written
      expect(signal(pid, 'SIGSTOP')).toBe(true);
      // Stopped until the gateway kills it (silent for livenessTimeoutMs since its last answered ping, so 4-6 s
      // after the stop), or for 10 s past the timeout if it never does: on a machine loaded by other work the
      // gateway's ping deadline fired 10 s after the stop (one run), so 5 s of slack failed a working liveness.
      const stoppedAt = Date.now();
      try {
        const what = `the gateway's liveness check to kill ${node} (pid ${pid}), SIGSTOPped`;
        await waitFor(what, () => !isNodeProcess(pid), { timeoutMs: LIVENESS_TIMEOUT_MS + 10_000, everyMs: 100 });
      } finally {
        signal(pid, 'SIGCONT');
      }
      const killedAfterMs = Date.now() - stoppedAt;
      const respawned = await health.waitRespawn(node, pid);
      return { node, pid, respawned, killedAfterMs };
    });
    await sleep(DWELL_MS);

    // 4. Drop every subscriber; they reconnect and resume with since + epoch.
    await fault('subscribers', async () => {
      const connections = subscribers.map((s) => s.log.connections);
      for (const s of subscribers) s.kill();
      await waitFor('every subscriber on a new connection', () => subscribers.every((s, i) => s.log.connections > connections[i]), 30_000);
      await allSubscribed();
      return { dropped: subscribers.length };
    });
    await sleep(DWELL_MS);

    // 5. Restart the gateway on the same data dir: the port changes; producers and subscribers follow the new URL.
    await fault('gateway', async () => {
      const old = cluster;
      driver!.burst(BURST);
      await sleep(10); // the fault's timing: lands while the burst is being written
      const code = await old.stop('SIGTERM');
      await start();
      await health.waitAllOk(NODES.length);
      await allSubscribed();
      return { exitCode: code, oldPort: new URL(old.info.http).port, newPort: new URL(cluster.info.http).port };
    });
    await sleep(DWELL_MS);

    // 6. Drop some subscribers once more under load, then let the load run a little.
    subscribers.filter((_, j) => j % 2 === 1).forEach((s) => s.kill());
    await sleep(DWELL_MS * 2);

    driver.stopLoad();
    await driver.drain(60_000);
    await allSubscribed();

    // Read every timeline (the cluster is settled: every acked publish is applied) and let subscribers catch up.
    const timelines = new Map<string, Entry[]>();
    const readAll = async () => {
      for (const user of RECIPIENTS) timelines.set(user, await readTimeline(cluster.info.http, adminToken(), user));
    };
    await readAll();
    const newest = (user: string) => timelines.get(user)?.[0]?.offset ?? 0;
    const behind = () => subscribers.filter((s) => s.log.last < newest(s.user)).map((s) => ({ ...s.describe(), newest: newest(s.user) }));
    await waitFor('subscribers caught up with their timelines (those behind)', behind, (b) => b.length === 0, { timeoutMs: 30_000, everyMs: 100 });
    await readAll(); // unchanged unless something was still being applied
    const finalHealth = await health.nodes();

    const logs = gateways
      .flatMap((g) => g.logs.split('\n'))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as { msg?: string; events?: number }];
        } catch {
          return [];
        }
      });
    if (process.env.FAULT_DEBUG)
      console.log(JSON.stringify(Object.entries(logs.reduce((m, l) => ((m[l.msg ?? '?'] = (m[l.msg ?? '?'] ?? 0) + 1), m), {} as Record<string, number>))));
    const replays = logs.filter((l) => l.msg === 'replayed ingest log');
    const result = check({ acked: driver.acked, generated: driver.generated, timelines, subscribers: subscribers.map((s) => s.log) });
    const summary = {
      acked: result.acked,
      lost: result.lost,
      duplicated: result.duplicated,
      gaps: result.gaps,
      nonMonotonic: result.nonMonotonic,
      recoveredFalse: result.recoveredFalse,
      subscriberGaps: result.subscriberGaps,
      subscriberDuplicates: result.subscriberDuplicates,
      subscriberMismatch: result.subscriberMismatch,
      subscribersBehind: result.subscribersBehind,
      subscriberTailMissing: result.subscriberTailMissing,
      subscriberJumps: result.subscriberJumps,
      subscriberEpochChanges: result.subscriberEpochChanges,
      entries: result.entries,
      misplaced: result.misplaced,
      appliedUnacked: result.appliedUnacked,
      generated: driver.generated.size,
      publishes: driver.stats.publishes,
      attempts: driver.stats.attempts,
      retries: driver.stats.retries,
      fatal: driver.stats.fatal.length,
      maxAckLatencyMs: driver.stats.maxAckLatencyMs,
      subscriberConnections: subscribers.reduce((n, s) => n + s.log.connections, 0),
      subscribeErrors: subscribers.reduce((n, s) => n + s.log.subscribeErrors, 0),
      subscribeTimeouts: subscribers.reduce((n, s) => n + s.log.subscribeTimeouts, 0),
      faults,
      replays: replays.length,
      replayedEvents: replays.reduce((n, l) => n + (l.events ?? 0), 0),
      livenessKills: logs.filter((l) => l.msg?.startsWith('node unresponsive: killing')).length,
      healthy: !!finalHealth && Object.values(finalHealth).every((n) => n.ok),
      rate: RATE,
      ci: CI,
      durationMs: Date.now() - began,
      samples: result.samples,
      fatalSamples: driver.stats.fatal.slice(0, 5),
    };
    console.log(JSON.stringify(summary));

    expect(driver.stats.fatal).toEqual([]);
    expect(result.acked).toBe(driver.generated.size);
    expect(result.lost).toBe(0);
    expect(result.duplicated).toBe(0);
    expect(result.gaps).toBe(0);
    expect(result.nonMonotonic).toBe(0);
    expect(result.misplaced).toBe(0);
    // Subscribers: what they got live and replayed is the timeline, in order, with no hole and no repeat; no
    // resume is refused (no retention is exceeded, no timeline changes epoch in this run).
    expect(result.recoveredFalse).toBe(0);
    expect(result.subscriberGaps).toBe(0);
    expect(result.subscriberDuplicates).toBe(0);
    expect(result.subscriberMismatch).toBe(0);
  }, 240_000);
});
