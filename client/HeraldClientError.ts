import { ErrorCodes, type ErrorCode } from '../core/HeraldError';

/**
 * Codes a client can see: every server code of docs/protocol.md, plus `HERALD_CLOSED` (the client was closed
 * with `close()`; nothing more will be sent). A request that got no answer (the socket dropped after it was sent,
 * or `requestTimeoutMs` passed) fails with `HERALD_UNAVAILABLE`: it may or may not have been applied.
 */
export type ClientErrorCode = ErrorCode | 'HERALD_CLOSED';

/** The error every failed request rejects with: branch on `code` and `retryable`, never on `message`. */
export class HeraldClientError extends Error {
  /** A `HERALD_*` code; a code unknown to this client (a newer server) is passed through as is. */
  readonly code: ClientErrorCode | (string & {});
  /** True when the same request (same event ids) may succeed if retried later, with backoff. */
  readonly retryable: boolean;

  constructor(code: ClientErrorCode | (string & {}), message: string, retryable?: boolean) {
    super(message);
    this.name = 'HeraldClientError';
    this.code = code;
    this.retryable = retryable ?? isRetryable(code);
  }
}

/** Retryable per docs/protocol.md; `HERALD_CLOSED` and unknown codes are not. */
export function isRetryable(code: string): boolean {
  return code in ErrorCodes ? ErrorCodes[code as ErrorCode].retryable : false;
}
