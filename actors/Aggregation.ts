import { pack } from '../storage/Codec';
import type { Op } from '../storage/GroupCommit';
import { seqKey, userKey } from '../storage/Keyspace';
import type { NodeStore } from '../storage/NodeStore';
import type { Timeline, TimelineMeta } from '../storage/Timeline';
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

/**
 * Likes and retweets of one tweet within `windowMs` collapse into one entry ("alice and 3 others liked your
 * tweet"): each new one takes the next offset, names the entry it replaces, and marks that one replaced. The
 * caller writes the ops with the entry and the event's dedupe key, so a retried event never counts twice.
 * `first` makes the entry of a fresh aggregate.
 */
export function aggregate(
  store: NodeStore,
  timeline: Timeline<Notification>,
  where: { shard: number; user: UserId; windowMs: number },
  meta: TimelineMeta,
  e: HeraldEvent & { type: 'like' | 'retweet' },
  ts: number,
  first: () => Notification,
): { notification: Notification; ops: Op[] } {
  const key = userKey(where.shard, 'g', where.user, e.type, e.tweet!.id);
  const prev = store.getSync<Aggregate>(key);
  const fresh = prev && ts - prev.since < where.windowMs && prev.offset >= (meta.first ?? 1);
  const offset = meta.last + 1;
  if (!fresh) {
    const record: Aggregate = { offset, since: ts, count: 1, actors: [e.actor], eventIds: [e.id] };
    return { notification: first(), ops: [{ type: 'put', key, value: pack(record) }] };
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
  const ops: Op[] = [{ type: 'put', key, value: pack(record) }];
  const old = store.getSync<Notification>(userKey(where.shard, 't', where.user, seqKey(prev.offset)));
  if (old) ops.push(timeline.entryOp({ ...old, replacedBy: offset }));
  return { notification, ops };
}
