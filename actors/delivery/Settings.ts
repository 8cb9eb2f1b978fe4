import type { PushCap } from '../../core/config';
import type { NotificationType } from '../../core/LocaleStrings';
import type { OutboundChannel, Settings, SettingsPatch } from '../../core/OutboundDelivery';
import { maskRecipient } from './channels/Channel';

/**
 * Defaults when a user said nothing: push for what is about them personally (follow, mention, reply) and for
 * tweets chosen by fanout; likes and retweets stay in-app (aggregated there); SMS and email only when asked.
 */
export const DEFAULT_CHANNELS: Record<NotificationType, Record<OutboundChannel, boolean>> = {
  follow: { push: true, sms: false, email: false },
  mention: { push: true, sms: false, email: false },
  reply: { push: true, sms: false, email: false },
  tweet: { push: true, sms: false, email: false },
  like: { push: false, sms: false, email: false },
  retweet: { push: false, sms: false, email: false },
};

export function wants(settings: Settings, type: string, channel: OutboundChannel): boolean {
  const t = type as NotificationType;
  return settings.channels?.[t]?.[channel] ?? DEFAULT_CHANNELS[t]?.[channel] ?? false;
}

/** Where to send on `channel`: every push device, or the SMS number / email address. */
export function addressesOf(settings: Settings, channel: OutboundChannel): string[] {
  const d = settings.devices ?? {};
  if (channel === 'push') return d.push ?? [];
  const one = d[channel];
  return one ? [one] : [];
}

/**
 * The settings after a user's update, by JSON Merge Patch (RFC 7396): null removes a part (quiet hours, a device
 * list, an address, a channel preference) so a user can take back what they gave; an absent member is unchanged;
 * arrays are replaced whole. Returns new objects where the patch reaches; `current` is not changed.
 */
export function mergeSettings(current: Settings, patch: SettingsPatch): Settings {
  return mergePatch(current, patch) as Settings;
}

/** How many pruned tokens the settings remember (the newest). */
const PRUNED_KEPT = 5;

/**
 * The settings without a push token the provider said is gone (HTTP 410), with a record of it (masked) so the
 * user and their app can see why pushes stopped. Undefined when the token is no longer there (nothing to do).
 */
export function pruneDevice(settings: Settings, token: string, at: number, reason: string): Settings | undefined {
  const push = settings.devices?.push;
  if (!push?.includes(token)) return undefined;
  const pruned = [...(settings.pruned ?? []), { to: maskRecipient(token), channel: 'push' as const, at, reason }].slice(-PRUNED_KEPT);
  return { ...settings, devices: { ...settings.devices, push: push.filter((t) => t !== token) }, pruned };
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (v !== undefined) out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Seconds since local midnight of `HH:MM` or `HH:MM:SS`. */
const secondsOf = (t: string) => Number(t.slice(0, 2)) * 3600 + Number(t.slice(3, 5)) * 60 + (t.length > 5 ? Number(t.slice(6, 8)) : 0);
const DAY = 24 * 3600;

/** `now` if outside the user's quiet hours, else the moment they end (in the user's time zone). */
export function deferUntil(settings: Settings, now: number): number {
  const q = settings.quietHours;
  if (!q) return now;
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: settings.tz ?? 'UTC',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(now));
  const part = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  const local = part('hour') * 3600 + part('minute') * 60 + part('second');
  const start = secondsOf(q.start);
  const end = secondsOf(q.end);
  const inside = start <= end ? local >= start && local < end : local >= start || local < end;
  if (!inside) return now;
  return now - (now % 1000) + ((end - local + DAY) % DAY) * 1000;
}

/**
 * Takes a push slot at `at` if the caps allow: at most `max` pushes in the window and `minGapMs` apart.
 * `slots` are the times of pushes already taken. Called inside the user's mailbox, so two sends can never both
 * take the last slot. Returns the new slot list, or undefined when capped.
 */
export function takePushSlot(slots: number[], at: number, cap: PushCap): number[] | undefined {
  const recent = slots.filter((t) => t > at - cap.windowMs && t < at + cap.windowMs);
  if (recent.filter((t) => t > at - cap.windowMs && t <= at).length >= cap.max) return undefined;
  if (recent.some((t) => Math.abs(at - t) < cap.minGapMs)) return undefined;
  return [...recent, at].sort((a, b) => a - b);
}
