import { HeraldError } from '../../../core/HeraldError';
import type { ChannelName } from './Channel';

/** The codes a send can fail with (their meaning and `retryable` are in the registry, core/HeraldError.ts). */
export const CHANNEL_ERROR_CODES = [
  'HERALD_PROVIDER_REJECTED',
  'HERALD_PROVIDER_RATE_LIMITED',
  'HERALD_PROVIDER_FAILED',
  'HERALD_PROVIDER_TIMEOUT',
  'HERALD_PROVIDER_UNREACHABLE',
  'HERALD_SEND_ABORTED',
  'HERALD_NOT_SENDABLE',
] as const;

export type ChannelErrorCode = (typeof CHANNEL_ERROR_CODES)[number];

export interface ChannelErrorDetails {
  /** The provider's HTTP status or SMTP reply code, when it answered. */
  status?: number;
  /** From a Retry-After header (429 or 503), in milliseconds. */
  retryAfterMs?: number;
  /** The delivery id (`deliveryId`) of the message that failed. */
  deliveryId?: string;
  cause?: unknown;
}

/**
 * The rejection of `Channel.send`: the code decides whether the queue retries with backoff or dead-letters at
 * once. Messages never hold the secret or the full recipient address.
 */
export class ChannelError extends HeraldError<ChannelErrorCode> {
  readonly channel: ChannelName;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly deliveryId?: string;

  constructor(code: ChannelErrorCode, channel: ChannelName, message: string, details: ChannelErrorDetails = {}) {
    super(code, message, { cause: details.cause });
    this.name = 'ChannelError';
    this.channel = channel;
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    if (details.deliveryId !== undefined) this.deliveryId = details.deliveryId;
  }

  /** Plain shape for the dead-letter store and for crossing process boundaries (comedy drops error classes). */
  override toJSON(): { code: ChannelErrorCode; channel: ChannelName; message: string; retryable: boolean; status?: number; retryAfterMs?: number } {
    const { code, channel, message, retryable, status, retryAfterMs } = this;
    return { code, channel, message, retryable, ...(status === undefined ? {} : { status }), ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
}
