import type { Notification, UserId } from './Event';
import type { NotificationType } from './LocaleStrings';

/**
 * Outbound delivery (push, SMS, email) as it crosses processes: a user's settings (the `settings` node op), a
 * queued send and a dead letter (`deadLetters`).
 */

/** The channels besides the in-app timeline and live sockets. */
export type OutboundChannel = 'push' | 'sms' | 'email';

/** A user's own choices: where to reach them, what on which channel, when not to, in which language. */
export interface Settings {
  /** IANA time zone of the user (quiet hours). @defaultValue 'UTC' */
  tz?: string;
  /** Language of push, SMS and email texts. @defaultValue the node's default locale */
  locale?: string;
  devices?: { push?: string[]; sms?: string; email?: string };
  /** Per notification type and channel: on or off (see DEFAULT_CHANNELS). In-app is always on. */
  channels?: Partial<Record<NotificationType, Partial<Record<OutboundChannel, boolean>>>>;
  /** Local times `HH:MM` (or `HH:MM:SS`); push, SMS and email wait until `end` (in-app stays immediate). */
  quietHours?: { start: string; end: string };
  /** Set by herald, never by the user: the device tokens removed because the provider said they are gone (410). */
  pruned?: PrunedDevice[];
}

/** A device token herald removed from a user's settings: masked (never the token itself), when, and why. */
export interface PrunedDevice {
  to: string;
  channel: OutboundChannel;
  at: number;
  reason: string;
}

/** The patch a part accepts: null removes it, an absent member is unchanged (JSON Merge Patch, RFC 7396). */
type MergePatch<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: MergePatch<T[K]> | null } : T;

/** A settings update (`settings` op, `PUT /v1/users/:id/settings`): a JSON Merge Patch of the user's settings. */
export type SettingsPatch = MergePatch<Settings>;

/** A send waiting in a node's delivery queue: everything the sender needs, decided by the user's actor. */
export interface DeliveryJob {
  channel: OutboundChannel;
  user: UserId;
  to: string;
  locale?: string;
  notification: Notification;
  /** 1 triggered (high), 2 fanout (normal), 3 recommendations (low). */
  priority: 1 | 2 | 3;
  dueAt: number;
  attempts: number;
  lastError?: string;
}

/** A dead letter: a send that failed for good, kept for an admin to look at and replay. */
export interface DeadLetter {
  id: string;
  job: DeliveryJob;
  error: string;
  failedAt: number;
}
