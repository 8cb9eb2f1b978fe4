/**
 * The one error class of herald. Every failure a client or operator can see carries a stable `HERALD_*` code;
 * the same code goes over the wire (`{op:'error', code}` on WS, `{code, message}` on HTTP) so clients branch on
 * codes, never on message text. It lives in the bottom layer so every layer can throw it.
 */
export const ErrorCodes = {
  /** A frame that is neither valid JSON (text) nor valid msgpack (binary). */
  HERALD_BAD_FRAME: { status: 400, retryable: false },
  /** A message that decodes but does not match the schema of its op. */
  HERALD_INVALID_MESSAGE: { status: 400, retryable: false },
  /** An `op` the server does not know. */
  HERALD_UNKNOWN_OP: { status: 400, retryable: false },
  /** An event that is well-formed but makes no sense (follow without target, self-follow, ...). */
  HERALD_INVALID_EVENT: { status: 400, retryable: false },
  /** Missing, forged or expired token. */
  HERALD_UNAUTHORIZED: { status: 401, retryable: false },
  /** The token expired (also the close reason, with code 1008, of a socket whose token expires mid-session). */
  HERALD_TOKEN_EXPIRED: { status: 401, retryable: false },
  /** The token is valid but may not do this (publish as another user, read another user's timeline). */
  HERALD_FORBIDDEN: { status: 403, retryable: false },
  /** No such HTTP route. */
  HERALD_NOT_FOUND: { status: 404, retryable: false },
  /** Body larger than the configured limit. */
  HERALD_PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  /** HTTP body that is neither application/json nor application/msgpack. */
  HERALD_UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  /** This connection sends faster than its rate limit: the message was dropped; slow down. */
  HERALD_RATE_LIMITED: { status: 429, retryable: true },
  /** The user already has the maximum number of open sockets. */
  HERALD_TOO_MANY_CONNECTIONS: { status: 429, retryable: true },
  /** An admin operation is already running. */
  HERALD_BUSY: { status: 409, retryable: true },
  /** Too much in flight: retry later with backoff. */
  HERALD_OVERLOADED: { status: 429, retryable: true },
  /** An owning node did not answer in time or is down: nothing was acked, retry with the same event ids. */
  HERALD_UNAVAILABLE: { status: 503, retryable: true },
  /** A node was asked to work on a shard it does not own at the given epoch (fencing); the router retries. */
  HERALD_WRONG_OWNER: { status: 503, retryable: true },
  /** A bug: logged with details, reported without them. */
  HERALD_INTERNAL: { status: 500, retryable: true },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class HeraldError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'HeraldError';
    this.code = code;
  }

  get status(): number {
    return ErrorCodes[this.code].status;
  }

  get retryable(): boolean {
    return ErrorCodes[this.code].retryable;
  }

  /** Plain shape for the wire and for crossing process boundaries (comedy drops error classes). */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }

  /** Rebuilds a HeraldError from anything thrown or received; unknown errors become HERALD_INTERNAL. */
  static from(err: unknown): HeraldError {
    if (err instanceof HeraldError) return err;
    const e = err as { code?: unknown; message?: unknown } | undefined;
    if (e && typeof e.code === 'string' && e.code in ErrorCodes) {
      return new HeraldError(e.code as ErrorCode, String(e.message ?? e.code));
    }
    return new HeraldError('HERALD_INTERNAL', 'internal error');
  }
}
