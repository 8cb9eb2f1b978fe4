import type { UserId } from './Event';

/** One user's presence as the gateway reports it: `[user, shard, seq]` (seq orders a user's marks and their end). */
export type PresenceEntry = [UserId, number, number];

/** The `presence` node op: what the gateway tells the owning node about its users' live subscriptions. */
export interface PresenceUpdate {
  /** Users with a live subscription (added to what the node knows; a mark with a lower seq changes nothing). */
  present?: PresenceEntry[];
  /** Shards whose present users this message (with the marks before it) states in full: known from now on. */
  known?: number[];
  /** Users whose last subscription ended; removed unless marked present again since (a higher seq). */
  absent?: PresenceEntry[];
}

/** Entries per `presence` message, either way: a gateway's resync of a node goes in messages of at most this. */
export const PRESENCE_MAX = 50_000;
