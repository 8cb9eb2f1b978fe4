/**
 * Every code a client, an operator or a dead letter can show, in one registry. The same code goes over the wire
 * (`{op:'error', code}` on WS, `{code, message}` on HTTP, the close reason of a socket) so clients branch on codes,
 * never on message text; docs/protocol.md lists them (a test holds the two equal). `status` is the HTTP status of
 * an answer with that code; `null` for codes that never answer a request (a close reason, a failed send, a
 * refused start, the client's own).
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
  /** An admin operation is already running. */
  HERALD_BUSY: { status: 409, retryable: true },
  /** remove-node of a node that still owns shards, is in a move, or holds keys of a shard it lost (the message says which). */
  HERALD_NODE_NOT_EMPTY: { status: 409, retryable: false },
  /** Body larger than the configured limit. */
  HERALD_PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  /** HTTP body that is neither application/json nor application/msgpack. */
  HERALD_UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  /** This connection sends faster than its rate limit: the message was dropped; slow down. */
  HERALD_RATE_LIMITED: { status: 429, retryable: true },
  /** The user already has the maximum number of open sockets. */
  HERALD_TOO_MANY_CONNECTIONS: { status: 429, retryable: true },
  /** Too much in flight: retry later with backoff. */
  HERALD_OVERLOADED: { status: 429, retryable: true },
  /** A bug: logged with details, reported without them. */
  HERALD_INTERNAL: { status: 500, retryable: true },
  /** An owning node did not answer in time or is down: nothing was acked, retry with the same event ids. */
  HERALD_UNAVAILABLE: { status: 503, retryable: true },
  /** A node was asked to work on a shard it does not own at the given epoch (fencing); the router retries. */
  HERALD_WRONG_OWNER: { status: 503, retryable: true },
  /** Close reason (code 4008) of a socket whose unsent bytes passed `maxBufferedBytes`: reconnect and resume. */
  HERALD_SLOW_CONSUMER: { status: null, retryable: true },
  /** The client was closed with `close()`: nothing more will be sent (the client's own code). */
  HERALD_CLOSED: { status: null, retryable: false },
  /** A config option or file does not match the schema: the process does not start (the message names it). */
  HERALD_INVALID_CONFIG: { status: null, retryable: false },
  /** A provider refused a send for good: a 4xx other than 408/429, a redirect, an SMTP 5xx, bad credentials. */
  HERALD_PROVIDER_REJECTED: { status: null, retryable: false },
  /** A provider said slow down (HTTP 429): retried after its Retry-After when it is set. */
  HERALD_PROVIDER_RATE_LIMITED: { status: null, retryable: true },
  /** A provider failed (HTTP 5xx or 408, SMTP 4xx or 503). */
  HERALD_PROVIDER_FAILED: { status: null, retryable: true },
  /** A provider did not answer within the channel's timeout; it may still have taken the send (the delivery id dedupes). */
  HERALD_PROVIDER_TIMEOUT: { status: null, retryable: true },
  /** No connection to a provider: refused, reset, DNS, TLS. */
  HERALD_PROVIDER_UNREACHABLE: { status: null, retryable: true },
  /** A send was cancelled by shutdown; it was not known to be delivered. */
  HERALD_SEND_ABORTED: { status: null, retryable: true },
  /** Nothing to send: a notification type without templates, or a channel already closed. */
  HERALD_NOT_SENDABLE: { status: null, retryable: false },
} as const satisfies Record<string, { status: number | null; retryable: boolean }>;

export type ErrorCode = keyof typeof ErrorCodes;

/** Whether `code` is in the registry (a newer peer may send one this process does not know). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ErrorCodes, code);
}

/**
 * The one base class of herald's errors (ChannelError and the client's HeraldClientError extend it). `C` narrows
 * the codes a subclass uses; a client may carry a code it does not know, passed through from a newer server.
 */
export class HeraldError<C extends string = ErrorCode> extends Error {
  readonly code: C;
  /** Whether the same request (same event ids) may succeed later, with backoff. */
  readonly retryable: boolean;

  constructor(code: C, message: string, options?: { retryable?: boolean; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HeraldError';
    this.code = code;
    this.retryable = options?.retryable ?? (isErrorCode(code) ? ErrorCodes[code].retryable : false);
  }

  /** The HTTP status of an answer with this code (500 for a code that never answers a request). */
  get httpStatus(): number {
    return (isErrorCode(this.code) ? ErrorCodes[this.code].status : null) ?? 500;
  }

  /** Plain shape for the wire and for crossing process boundaries (comedy drops error classes). */
  toJSON(): { code: C; message: string } {
    return { code: this.code, message: this.message };
  }

  /** Rebuilds a HeraldError from anything thrown or received; unknown errors become HERALD_INTERNAL. */
  static from(err: unknown): HeraldError {
    if (err instanceof HeraldError && isErrorCode(err.code)) return err as HeraldError;
    const e = err as { code?: unknown; message?: unknown } | undefined;
    if (e && isErrorCode(e.code)) return new HeraldError(e.code, String(e.message ?? e.code));
    return new HeraldError('HERALD_INTERNAL', 'internal error');
  }
}
