import type { ChannelName } from './Channel';

/**
 * Why a send failed, and whether trying the same message again can help. Like `ErrorCodes` (core/HeraldError.ts)
 * the code decides `retryable`, so the queue branches on codes, never on message text.
 */
export const ChannelErrorCodes = {
  /** The provider refused the message for good: a 4xx other than 408/429, a redirect, an SMTP 5xx, bad credentials. */
  HERALD_PROVIDER_REJECTED: { retryable: false },
  /** The provider said slow down (HTTP 429): retry after `retryAfterMs` when it is set. */
  HERALD_PROVIDER_RATE_LIMITED: { retryable: true },
  /** The provider failed (HTTP 5xx or 408, SMTP 4xx or 503). */
  HERALD_PROVIDER_FAILED: { retryable: true },
  /** No answer within the channel's timeout. The provider may still have taken it: the delivery id dedupes. */
  HERALD_PROVIDER_TIMEOUT: { retryable: true },
  /** No connection: refused, reset, DNS, TLS. */
  HERALD_PROVIDER_UNREACHABLE: { retryable: true },
  /** The caller's signal cancelled the send (shutdown); the message was not known to be delivered. */
  HERALD_SEND_ABORTED: { retryable: true },
  /** Nothing to send: a notification type without templates, or a channel already closed. */
  HERALD_NOT_SENDABLE: { retryable: false },
} as const;

export type ChannelErrorCode = keyof typeof ChannelErrorCodes;

export interface ChannelErrorDetails {
  /** The provider's HTTP status or SMTP reply code, when it answered. */
  status?: number;
  /** From a Retry-After header (429 or 503), in milliseconds. */
  retryAfterMs?: number;
  /** The delivery id (`deliveryId`) of the message that failed. */
  deliveryId?: string;
  cause?: unknown;
}

/** The rejection of `Channel.send`. Messages never hold the secret or the full recipient address. */
export class ChannelError extends Error {
  readonly code: ChannelErrorCode;
  readonly channel: ChannelName;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly deliveryId?: string;

  constructor(code: ChannelErrorCode, channel: ChannelName, message: string, details: ChannelErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ChannelError';
    this.code = code;
    this.channel = channel;
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    if (details.deliveryId !== undefined) this.deliveryId = details.deliveryId;
  }

  /** Whether the same message may succeed later: the queue retries with backoff, else dead-letters at once. */
  get retryable(): boolean {
    return ChannelErrorCodes[this.code].retryable;
  }

  /** Plain shape for the dead-letter store and for crossing process boundaries (comedy drops error classes). */
  toJSON(): { code: ChannelErrorCode; channel: ChannelName; message: string; retryable: boolean; status?: number; retryAfterMs?: number } {
    const { code, channel, message, retryable, status, retryAfterMs } = this;
    return { code, channel, message, retryable, ...(status === undefined ? {} : { status }), ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
}
