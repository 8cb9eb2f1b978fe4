import pino, { type Logger } from 'pino';
import { readEnvironment } from './config/environment';
import { DEFAULT_CONFIG } from './config/load';

export type { Logger };

/**
 * Structured logs (pino) on stderr, so stdout stays for what a command prints for people and scripts.
 * Pretty when stderr is a terminal. Written synchronously: logs are few, and none is lost at process.exit. Tokens and secrets are redacted by key wherever they appear.
 */
export function createLogger(name: string, level: string = readEnvironment().HERALD_LOG_LEVEL ?? DEFAULT_CONFIG.logLevel): Logger {
  const redact = { paths: ['token', '*.token', 'secret', '*.secret', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' };
  if (process.stderr.isTTY) {
    return pino({ name, level, redact, transport: { target: 'pino-pretty', options: { destination: 2 } } });
  }
  return pino({ name, level, redact }, pino.destination({ fd: 2, sync: true }));
}
