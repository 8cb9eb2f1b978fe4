import type { HeraldEvent, Notification, UserId } from '../../core/Event';
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

/**
 * What an aggregate key holds: the record, or, while the tweet has had one like (or retweet), only the offset of
 * its entry, which holds the rest (its ts is the `since`, its actor and event id the lists): most tweets get one,
 * and their record would repeat their entry byte for byte.
 */
type Stored = Aggregate | number;

/** A key and its new decoded value, which the caller packs and writes with the entry. */
export interface AggregateChange {
  key: string;
  value: unknown;
}

/** What an aggregate reads of the user's keys, as the latest apply left them (writes in flight included). */
export interface AggregateSource {
  read<T>(key: string): T | undefined;
  entryKey(offset: number): string;
}

/**
 * Likes and retweets of one tweet within `windowMs` collapse into one entry ("alice and 3 others liked your
 * tweet"): each new one takes the next offset, names the entry it replaces (`replaces`), and removes that one in
 * the same batch, so an aggregate holds one retention slot however many likes it has (a replay answers the removed
 * offset as superseded: storage/Timeline.ts `since`). The caller writes the changes (pushed to `changes`) with the
 * entry and the event's dedupe key, so a retried event never counts twice. `key` is the aggregate record's key.
 * Answers the aggregated notification, or undefined when the event starts a fresh aggregate: the caller makes its
 * entry (count 1) at `meta.last + 1`.
 */
export function aggregate(
  source: AggregateSource,
  key: string,
  windowMs: number,
  meta: { last: number; first?: number },
  e: HeraldEvent & { type: 'like' | 'retweet' },
  ts: number,
  changes: AggregateChange[],
): Notification | undefined {
  const stored = source.read<Stored>(key);
  const offset = meta.last + 1;
  // An entry retention dropped is no aggregate to extend (nor is one whose entry is gone).
  const live = stored !== undefined && (typeof stored === 'number' ? stored : stored.offset) >= (meta.first ?? 1);
  const old = live ? source.read<Notification>(source.entryKey(typeof stored === 'number' ? stored : stored.offset)) : undefined;
  const prev: Aggregate | undefined =
    typeof stored === 'number' ? old && { offset: stored, since: old.ts, count: old.count ?? 1, actors: old.actors, eventIds: old.eventIds } : stored;
  if (!prev || !old || ts - prev.since >= windowMs) {
    changes.push({ key, value: offset });
    return undefined;
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
  changes.push({ key, value: record });
  changes.push({ key: source.entryKey(prev.offset), value: undefined });
  return notification;
}
