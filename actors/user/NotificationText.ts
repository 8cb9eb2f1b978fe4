import type { HeraldEvent, UserId } from '../../core/Event';

/** The in-app line of an aggregated like/retweet entry (push, SMS and email use actors/channels templates). */
export function describeAggregate(type: 'like' | 'retweet', newest: UserId, count: number, text: string | undefined): string {
  const who = count > 1 ? `${newest} and ${count - 1} other${count > 2 ? 's' : ''}` : newest;
  const what = `${who} ${type === 'like' ? 'liked' : 'retweeted'} your tweet`;
  return text ? `${what}: ${text}` : what;
}

/** The in-app line of a notification. */
export function describe(type: string, e: HeraldEvent): string {
  const text = e.tweet?.text;
  const withText = (s: string) => (text ? `${s}: ${text}` : s);
  switch (type) {
    case 'follow':
      return `${e.actor} followed you`;
    case 'like':
      return withText(`${e.actor} liked your tweet`);
    case 'retweet':
      return withText(`${e.actor} retweeted your tweet`);
    case 'reply':
      return withText(`${e.actor} replied to your tweet`);
    default:
      return withText(`${e.actor} mentioned you`);
  }
}
