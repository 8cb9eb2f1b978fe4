import type { HeraldEvent, Notification, UserId } from './Event';
import { describeAggregate } from './NotificationText';

/** Actors named on an aggregated entry (the newest), and event ids it keeps. */
const AGGREGATE_ACTORS = 10;
const AGGREGATE_IDS = 1000;

/** Likes or retweets of one tweet collapsed into the entry at `offset`, since the first one's time. */
interface Aggregate {
  offset: number;
  since: number;
  count: number;
  actors: UserId[];
  eventIds: string[];
}

/** A key and its new decoded value, which the caller packs and writes with the entry. */
export interface AggregateChange {
  key: string;
  value: unknown;
}

/**
 * Likes and retweets of one tweet within `windowMs` collapse into one entry ("alice and 3 others liked your
 * tweet"): each new one takes the next offset, names the entry it replaces, and marks that one replaced. The
 * caller writes the changes with the entry and the event's dedupe key, so a retried event never counts twice.
 * `read` sees the user's keys as the latest apply left them (writes in flight included); `key` is the
 * aggregate record's key, `entryKey` a timeline entry's; `first` makes the entry of a fresh aggregate.
 */
export function aggregate(
  read: <T>(key: string) => T | undefined,
  key: string,
  entryKey: (offset: number) => string,
  windowMs: number,
  meta: { last: number; first?: number },
  e: HeraldEvent & { type: 'like' | 'retweet' },
  ts: number,
  first: () => Notification,
): { notification: Notification; changes: AggregateChange[] } {
  const prev = read<Aggregate>(key);
  const fresh = prev && ts - prev.since < windowMs && prev.offset >= (meta.first ?? 1);
  const offset = meta.last + 1;
  if (!fresh) {
    const record: Aggregate = { offset, since: ts, count: 1, actors: [e.actor], eventIds: [e.id] };
    return { notification: first(), changes: [{ key, value: record }] };
  }
  const actors = [e.actor, ...prev.actors.filter((a) => a !== e.actor)].slice(0, AGGREGATE_ACTORS);
  const record: Aggregate = { offset, since: prev.since, count: prev.count + 1, actors, eventIds: [...prev.eventIds, e.id].slice(-AGGREGATE_IDS) };
  const notification: Notification = {
    offset,
    type: e.type,
    actors,
    tweetId: e.tweet!.id,
    eventIds: record.eventIds,
    ts,
    count: record.count,
    replaces: prev.offset,
    text: describeAggregate(e.type, actors[0], record.count, e.tweet!.text),
  };
  const changes: AggregateChange[] = [{ key, value: record }];
  const oldKey = entryKey(prev.offset);
  const old = read<Notification>(oldKey);
  if (old) changes.push({ key: oldKey, value: { ...old, replacedBy: offset } });
  return { notification, changes };
}
