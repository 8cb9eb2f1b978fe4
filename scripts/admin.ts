import { SingleBar, Presets } from 'cli-progress';
import { parseOptions } from '../bench/harness/args';
import { parseOrExit } from '../bench/harness/main';
import { Auth } from '../gateway/Auth';

const HELP = `herald admin: inspect and rebalance a running cluster (talks to its admin HTTP API).

Usage: npm run admin -- <command> [args] [--url URL] [--token T | --data DIR]

  status [--watch]                 nodes, their shards, bytes and counters; moves in progress; the current operation
  plan                             what a rebalance would move, without moving
  rebalance [--concurrency N]      move every shard to where the ring wants it (N moves at a time, default 2)
  add-node [--host h:port] [--no-rebalance]
                                   add a node (forked here, or on a listener), then rebalance onto it
  drain-node ID [--concurrency N]  move every shard off a node
  remove-node ID                   remove a drained node
  move-shard S NODE                pin shard S to NODE and move it there
  dead-letters                     sends that failed for good (push, SMS, email), per node
  replay [ID ...]                  queue dead letters again (all, or those ids)

  --url URL     the cluster's HTTP URL (default http://127.0.0.1:7070)
  --token T     an admin token; without it one is signed with the secret in --data (default ./data)

Long operations show a progress bar; follow one from another terminal with: status --watch`;

const OPTIONS = {
  url: { type: 'string', default: 'http://127.0.0.1:7070' },
  token: { type: 'string' },
  data: { type: 'string', default: './data' },
  concurrency: { type: 'number', min: 1, integer: true },
  host: { type: 'string' },
  'no-rebalance': { type: 'boolean' },
  watch: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

// A command and its arguments, then options.
const { values, positionals } = parseOrExit('admin', () => parseOptions(process.argv.slice(2), OPTIONS, { positionals: true }));

const token = values.token ?? Auth.fromDataDir(values.data).sign('admin', 'admin', 600);

async function api(method: string, path: string, body?: object): Promise<any> {
  const res = await fetch(values.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(`${json.code ?? res.status}: ${json.message ?? res.statusText}`), { code: json.code });
  return json;
}

const mb = (b: number) => (b / 1e6).toFixed(1) + ' MB';

function printStatus(s: any): void {
  console.log(`epoch ${s.epoch}, ${s.shardCount} shards`);
  for (const n of s.nodes) {
    const flags = [n.ok ? 'up' : 'DOWN', n.draining ? 'draining' : '', n.host ? `on ${n.host}` : 'forked'].filter(Boolean).join(', ');
    console.log(
      `  ${n.id.padEnd(8)} ${String(n.shards).padStart(4)} shards  ${mb(n.bytes).padStart(9)}  users ${n.activeUsers ?? '-'}  events ${n.events ?? '-'}  (${flags}, pid ${n.pid ?? '-'})`,
    );
  }
  for (const m of s.moving) console.log(`  moving shard ${m.shard}: ${m.from} -> ${m.to} (${m.phase})`);
  if (s.operation) {
    const o = s.operation;
    console.log(
      `operation: ${o.operation} ${o.state}: ${o.shardsDone}/${o.shardsTotal} shards, ${o.shardsFailed} failed, ${o.keysMoved} keys, ${mb(o.bytesMoved)}${o.error ? `, last error: ${o.error}` : ''}`,
    );
  }
}

/** Follows the running operation with a progress bar (shards and bytes moved, rate, ETA) until it ends. */
async function follow(): Promise<void> {
  const bar = new SingleBar({ format: ' {bar} {value}/{total} shards | {mb} moved | {rate} | ETA {eta_formatted}', hideCursor: true }, Presets.shades_classic);
  let started = false;
  for (;;) {
    const o = (await api('GET', '/v1/admin/status')).operation;
    if (!o) return;
    const seconds = Math.max(0.001, ((o.finishedAt ?? Date.now()) - o.startedAt) / 1000);
    const payload = { mb: mb(o.bytesMoved), rate: `${(o.keysMoved / seconds).toFixed(0)} keys/s` };
    if (!started) {
      bar.start(o.shardsTotal, o.shardsDone + o.shardsFailed, payload);
      started = true;
    }
    bar.setTotal(o.shardsTotal);
    bar.update(o.shardsDone + o.shardsFailed, payload);
    if (o.state !== 'running') {
      bar.stop();
      console.log(
        `${o.operation}: ${o.state}, ${o.shardsDone} moved, ${o.shardsFailed} failed, ${o.keysMoved} keys, ${mb(o.bytesMoved)} in ${seconds.toFixed(1)} s${o.error ? ` (last error: ${o.error})` : ''}`,
      );
      if (o.state === 'failed') process.exitCode = 1;
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const [cmd, a, b] = positionals;
  const concurrency = values.concurrency;
  switch (cmd) {
    case 'status':
      do {
        if (values.watch) console.clear();
        printStatus(await api('GET', '/v1/admin/status'));
        if (values.watch) await new Promise((r) => setTimeout(r, 1000));
      } while (values.watch);
      return;
    case 'plan': {
      const plan = await api('GET', '/v1/admin/plan');
      console.log(`${plan.moves.length} shard(s) would move`);
      for (const m of plan.moves) console.log(`  shard ${m.shard}: ${m.from} -> ${m.to}`);
      return;
    }
    case 'rebalance':
      await api('POST', '/v1/admin/rebalance', { concurrency });
      return follow();
    case 'add-node': {
      const added = await api('POST', '/v1/admin/nodes', { host: values.host, rebalance: !values['no-rebalance'], concurrency });
      console.log(`added ${added.node} (pid ${added.pid})`);
      if (!values['no-rebalance']) {
        await new Promise((r) => setTimeout(r, 100));
        return follow();
      }
      return;
    }
    case 'drain-node':
      if (!a) throw new Error('drain-node needs a node id');
      await api('POST', `/v1/admin/nodes/${a}/drain`, { concurrency });
      return follow();
    case 'remove-node':
      if (!a) throw new Error('remove-node needs a node id');
      console.log(`removed ${(await api('DELETE', `/v1/admin/nodes/${a}`)).removed}`);
      return;
    case 'move-shard':
      if (!a || !b) throw new Error('move-shard needs a shard and a node');
      await api('POST', `/v1/admin/shards/${a}/move`, { node: b });
      return follow();
    case 'dead-letters': {
      const { nodes } = await api('GET', '/v1/admin/dead-letters');
      for (const n of nodes) {
        for (const l of n.letters) {
          console.log(
            `${n.node}  ${l.id}  ${l.job.channel} to ${l.job.user} after ${l.job.attempts} attempts, ${new Date(l.failedAt).toISOString()}: ${l.error}`,
          );
        }
      }
      console.log(`${nodes.reduce((s: number, n: any) => s + n.letters.length, 0)} dead letter(s)`);
      return;
    }
    case 'replay': {
      const ids = positionals.slice(1);
      const { replayed } = await api('POST', '/v1/admin/dead-letters/replay', ids.length ? { ids } : {});
      console.log(`replayed: ${JSON.stringify(replayed)}`);
      return;
    }
    default:
      console.log(HELP);
      process.exitCode = cmd && !values.help ? 2 : 0;
  }
}

main().catch((err) => {
  console.error(`admin: ${err.message}`);
  process.exit(1);
});
