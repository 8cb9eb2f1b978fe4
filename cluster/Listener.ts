import { join } from 'node:path';
import { setEnvironment } from '../core/config/environment';
import { releaseSignals } from './ActorRuntime';
import { inheritV8Flags } from './V8Flags';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const comedy = require('comedy') as {
  createSystem(opts: object): { listen(port: number, host: string): Promise<void>; destroy(): Promise<void> };
};

/**
 * A comedy listener for remote mode: a gateway started with `--hosts h:port` creates its node actors here.
 * It runs code sent to it and has no authentication, so it binds to a private address (default loopback), never
 * to all interfaces; the node processes it forks bind their own ports to COMEDY_BIND_HOST (our comedy patch).
 */
export async function startListener(port: number, host: string): Promise<{ port: number; stop: () => Promise<void> }> {
  setEnvironment('COMEDY_BIND_HOST', host);
  // The node processes comedy forks here run with herald's V8 flags.
  inheritV8Flags();
  const system = comedy.createSystem({ logger: '/' + join(__dirname, 'ComedyLog.js') });
  releaseSignals(system);
  await system.listen(port, host);
  const server = (system as unknown as { server: { address(): { port: number } } }).server;
  return { port: server.address().port, stop: () => system.destroy() };
}
