/** The domain as it goes over the wire (docs/protocol.md). */
export type UserId = string;
export type EventType = 'follow' | 'unfollow' | 'tweet' | 'like' | 'retweet' | 'reply' | 'mention';

export interface Tweet {
  id: string;
  author: UserId;
  text?: string;
  entities?: string[];
  mentions?: UserId[];
}

export interface HeraldEvent {
  /** Idempotency key, scoped by `actor`: a retried publish with the same id changes nothing. */
  id: string;
  type: EventType;
  actor: UserId;
  /** Followee for follow/unfollow; the tweet's author for like/retweet/reply. */
  target?: UserId;
  tweet?: Tweet;
  ts?: number;
}

export interface Notification {
  offset: number;
  type: string;
  actors: UserId[];
  tweetId?: string;
  text?: string;
  reason?: string;
  eventIds: string[];
  ts: number;
  /** Aggregated likes/retweets of one tweet: how many (`actors` holds the most recent, newest first). */
  count?: number;
  /** This entry supersedes the entry at that offset (clients update in place). */
  replaces?: number;
  /** Set on an entry a later one superseded (timelines written before superseded entries were removed). */
  replacedBy?: number;
}

/**
 * The `type` of a replay's stand-in for an offset whose entry a later aggregate superseded and removed
 * (`actors` and `eventIds` empty): the offset is accounted for, there is nothing to show.
 */
export const SUPERSEDED = 'superseded';

/** The user an event is about, besides its actor: the followee, or the author of the engaged tweet. */
export function targetOf(e: HeraldEvent): UserId | undefined {
  return e.target ?? (e.type === 'follow' || e.type === 'unfollow' || e.type === 'tweet' ? undefined : e.tweet?.author);
}

/** Users who get a notification for this event (never the actor itself). */
export function recipientsOf(e: HeraldEvent): UserId[] {
  let users: UserId[];
  switch (e.type) {
    case 'unfollow':
      return [];
    case 'follow':
    case 'like':
    case 'retweet':
    case 'reply': {
      const t = targetOf(e);
      users = t ? [t] : [];
      break;
    }
    case 'mention':
    case 'tweet':
      users = e.tweet?.mentions ?? [];
      break;
  }
  return [...new Set(users)].filter((u) => u !== e.actor);
}

/**
 * Every user whose owner must see the event: the actor (its followings, tweets and engagements live there) and
 * each user the event touches (follower edges, notifications). The router sends the event to each owner once.
 */
export function involvedUsers(e: HeraldEvent): UserId[] {
  const users = new Set<UserId>([e.actor]);
  const t = targetOf(e);
  if (t) users.add(t);
  for (const u of recipientsOf(e)) users.add(u);
  return [...users];
}
