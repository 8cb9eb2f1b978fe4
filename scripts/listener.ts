import { parseOptions } from '../bench/harness/args';
import { parseOrExit } from '../bench/harness/main';
import { startListener } from '../cluster/Listener';

const HELP = `herald node listener (remote mode): node actors of a gateway started with --hosts are created here.

Usage: npm run listener -- [--port 6161] [--bind 127.0.0.1]

  --port P      port to listen on, 0 = any (default 6161)
  --bind ADDR   a PRIVATE address of this host (default 127.0.0.1). The listener runs code it is sent and has
                no authentication: never bind it to a public or all-interfaces address (see docs/security.md).

The herald checkout must be at the same path on every host (nodes load their code by path).`;

const OPTIONS = {
  port: { type: 'number', default: 6161, min: 0, integer: true },
  bind: { type: 'string', default: '127.0.0.1' },
  help: { type: 'boolean', short: 'h' },
} as const;

const { values } = parseOrExit('listener', () => parseOptions(process.argv.slice(2), OPTIONS));
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (values.bind === '0.0.0.0' || values.bind === '::') {
  console.error('listener: refusing to bind to all interfaces; give a private address');
  process.exit(2);
}
startListener(values.port, values.bind).then(
  ({ port, stop }) => {
    console.log(`herald listener on ${values.bind}:${port}`);
    const exit = () => void stop().finally(() => process.exit(0));
    process.once('SIGINT', exit);
    process.once('SIGTERM', exit);
  },
  (err) => {
    console.error(`listener: ${err.message}`);
    process.exit(1);
  },
);
