import { ErrorCodes, HeraldError, isErrorCode, type ErrorCode } from '../core/HeraldError';

/**
 * Codes a client can see: every code of the registry (docs/protocol.md), `HERALD_CLOSED` among them (the client
 * was closed with `close()`; nothing more will be sent). A request that got no answer (the socket dropped after it
 * was sent, or `requestTimeoutMs` passed) fails with `HERALD_UNAVAILABLE`: it may or may not have been applied.
 */
export type ClientErrorCode = ErrorCode;

/** The error every failed request rejects with: branch on `code` and `retryable`, never on `message`. */
export class HeraldClientError extends HeraldError<ClientErrorCode | (string & {})> {
  /** `code` is a `HERALD_*` code; one unknown to this client (a newer server) is passed through as is. */
  constructor(code: ClientErrorCode | (string & {}), message: string, retryable?: boolean) {
    super(code, message, { retryable: retryable ?? isRetryable(code) });
    this.name = 'HeraldClientError';
  }
}

/** Retryable per the registry (docs/protocol.md); `HERALD_CLOSED` and unknown codes are not. */
export function isRetryable(code: string): boolean {
  return isErrorCode(code) ? ErrorCodes[code].retryable : false;
}
