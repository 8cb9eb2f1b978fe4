import { parseArgs } from 'node:util';
import { Gateway } from '../gateway/Gateway';
import { loadConfig, readConfigFile, readEnvironment } from '../core/config';
import { createLogger } from '../core/logger';

const HELP = `herald cluster: a gateway (the comedy root) and its node actors.

Usage: npm start -- [options]      (or: node dist/scripts/cluster.js [options])

  --nodes N        local node processes to fork when the cluster is created   (default 3)
  --data DIR       data directory: shard table, token secret, one LevelDB per node (default ./data)
  --port P         HTTP + WebSocket port, 0 = any free port                  (default 7070)
  --bind ADDR      address to listen on                                      (default 127.0.0.1)
  --shards S       shard count, fixed when the cluster is created            (default 256)
  --hosts h:p,...  remote mode: one node on each comedy-node listener (see docs/operations.md)
  --idle-ms MS     passivate a user actor idle this long                     (default 60000)
  --no-sync        do not fsync the ingest log before acking (faster, loses acks on power loss)
  --config FILE    JSON file with any option of docs/operations.md (flags win over it)
  -h, --help       this text

Prints the WebSocket URL, the HTTP URL and a demo token, then serves until SIGINT/SIGTERM.
Logs (JSON, pino) go to stderr; HERALD_LOG_LEVEL sets their level.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string' },
      data: { type: 'string' },
      port: { type: 'string' },
      bind: { type: 'string' },
      shards: { type: 'string' },
      hosts: { type: 'string' },
      'idle-ms': { type: 'string' },
      'no-sync': { type: 'boolean' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const int = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const fromFile = values.config ? readConfigFile(values.config) : {};
  const config = loadConfig({
    ...fromFile,
    nodes: int(values.nodes),
    dataDir: values.data,
    port: int(values.port),
    bind: values.bind,
    shards: int(values.shards),
    hosts: values.hosts ? values.hosts.split(',').filter(Boolean) : undefined,
    idleMs: int(values['idle-ms']),
    syncWrites: values['no-sync'] ? false : undefined,
    logLevel: readEnvironment().HERALD_LOG_LEVEL ?? fromFile.logLevel,
  });
  const log = createLogger('gateway', config.logLevel);
  const gateway = await Gateway.start(config, log);
  const token = gateway.auth.sign('demo', 'user', config.demoTokenTtlSec);
  console.log(`herald ready: ${gateway.coordinator.nodes.size} nodes, ${gateway.table.shardCount} shards, data in ${config.dataDir}`);
  console.log(`  ws:    ${gateway.urls.ws}`);
  console.log(`  http:  ${gateway.urls.http}`);
  console.log(`  demo token (user "demo", ${config.demoTokenTtlSec}s): ${token}`);
  console.log(`  nodes: ${gateway.table.data.nodes.map((spec) => `${spec.id}=pid ${gateway.coordinator.node(spec.id).pid}`).join(', ')}`);
  log.info({ ws: gateway.urls.ws, nodes: gateway.coordinator.nodes.size }, 'cluster started');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    gateway.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGHUP', () => {
    gateway.auth.reload();
    log.info('token secrets reloaded');
  });
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err) => {
  console.error(`herald: ${err?.code ? `${err.code}: ` : ''}${err?.message ?? err}`);
  process.exit(1);
});
