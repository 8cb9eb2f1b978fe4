import { createHash } from 'node:crypto';
import type { Notification, UserId } from '../../../core/Event';
import type { OutboundChannel } from '../../../core/OutboundDelivery';

/** The outbound channels besides the in-app timeline and live sockets (a user's settings name them). */
export type ChannelName = OutboundChannel;

export const CHANNEL_NAMES: readonly ChannelName[] = ['push', 'sms', 'email'];

/**
 * A timeline notification as the channels read it. `count` (how many actors in all, for an aggregated like or
 * retweet; `actors` may hold only the first few) and `replaces` (the offset of the entry it updates) are optional,
 * so a plain Notification fits.
 */
export type OutboundNotification = Notification & { count?: number; replaces?: number };

/** One notification for one recipient address on one channel: what a sender worker hands to `Channel.send`. */
export interface OutboundMessage {
  channel: ChannelName;
  /** The recipient user. */
  user: UserId;
  /** Where it goes: a device token (push), a phone number (sms), an email address (email). */
  to: string;
  /** The recipient's locale (`fr`, `fr-CA`, `pt_BR`...); absent or unknown ones fall back to the default locale. */
  locale?: string;
  notification: OutboundNotification;
}

/**
 * An outbound channel. `send` resolves once the provider accepted the message and rejects with a `ChannelError`
 * whose `retryable` tells the queue whether to try again (provider down, timeout, 429) or give up (4xx).
 */
export interface Channel {
  readonly name: ChannelName;
  /** Delivers one message; `signal` cancels it (HERALD_SEND_ABORTED), on top of the channel's own timeout. */
  send(msg: OutboundMessage, signal?: AbortSignal): Promise<void>;
  /** Releases connections (the SMTP pool); sends after close fail. */
  close(): Promise<void>;
}

/**
 * The stable id of one delivery: the same notification to the same address on the same channel always gets the
 * same id, so a provider (or an inbox, as Message-ID) can drop the duplicate a retry after a timeout may cause.
 */
export function deliveryId(msg: OutboundMessage): string {
  const n = msg.notification;
  const key = ['herald.v1', msg.channel, msg.user, msg.to, String(n.offset), n.eventIds.join(',')].join('\0');
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

/** A recipient address fit for logs and error messages: enough to tell two apart, never the whole token. */
export function maskRecipient(to: string): string {
  const at = to.lastIndexOf('@');
  if (at > 0) return `${to[0]}***${to.slice(at)}`;
  return to.length > 8 ? `***${to.slice(-4)}` : '***';
}
