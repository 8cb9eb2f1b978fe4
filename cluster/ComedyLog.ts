import { createLogger } from '../core/logger';

/**
 * comedy's log output, routed into pino on stderr (comedy itself writes to stdout). comedy's chatty info lines
 * become debug; its warnings (respawns) and errors stay. Loaded by comedy by module path in every process.
 */
class ComedyLog {
  private readonly log = createLogger('comedy');
  private text(args: unknown[]): string {
    return args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : String(a))).join(' ');
  }
  debug(...args: unknown[]): void {
    this.log.trace(this.text(args));
  }
  info(...args: unknown[]): void {
    this.log.debug(this.text(args));
  }
  warn(...args: unknown[]): void {
    this.log.warn(this.text(args));
  }
  error(...args: unknown[]): void {
    this.log.error(this.text(args));
  }
}

module.exports = ComedyLog;
