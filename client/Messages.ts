import type { HeraldEvent, Notification } from '../core/Event';

export type { EventType, HeraldEvent, Notification, Tweet, UserId } from '../core/Event';

/** Answer of `publish`: the events were written durably by every owning node. */
export interface PublishResult {
  accepted: number;
}

/** One page of the timeline, newest first. Pass `next` as `before` for the following page; absent on the last. */
export interface TimelinePage {
  items: Notification[];
  next?: number;
  unread: number;
}

/** Answer of `read`: unread entries left after moving the read marker. */
export interface ReadResult {
  unread: number;
}

/**
 * The server's answer to a subscribe. `offset` is the newest entry of the timeline, `epoch` names this
 * incarnation of it. `recovered: false` means the resume point (`since`/`epoch`) could not be honoured (another
 * epoch, or older than retention): nothing was replayed and the app must reload its timeline.
 */
export interface Subscribed {
  offset: number;
  unread: number;
  epoch: string;
  recovered: boolean;
}

/** Where a subscription stands: the highest offset delivered (or caught up to) and the epoch it belongs to. */
export interface Cursor {
  offset: number;
  epoch: string;
}

/** Frames the client sends. */
export type ClientFrame =
  | { op: 'publish'; id: string; events: HeraldEvent[] }
  | { op: 'subscribe'; since?: number; epoch?: string }
  | { op: 'timeline'; id: string; before?: number; limit?: number }
  | { op: 'read'; id: string; upTo: number };

/** Frames the server sends. */
export type ServerFrame =
  | { op: 'ack'; id: string; accepted?: number; unread?: number }
  | ({ op: 'timeline'; id: string } & TimelinePage)
  | ({ op: 'subscribed' } & Subscribed)
  | { op: 'notification'; notification: Notification }
  | { op: 'error'; id?: string; code: string; message: string };
