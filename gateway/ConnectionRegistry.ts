import type { UserId } from '../core/Event';
import type { LiveNotification } from './WireCodec';

/** A live subscription of one socket to its user's notifications. */
export interface Subscriber {
  push(notification: LiveNotification): void;
  /** Holds writes to the socket until `uncork`, so a batch of notifications goes out in one write. */
  cork(): void;
  uncork(): void;
}

/**
 * Which sockets of this gateway are subscribed for which user (the presence the gateway needs to deliver).
 * Nodes answer each batch with the notifications it created; the gateway hands each to its user's sockets here.
 */
export class ConnectionRegistry {
  private readonly byUser = new Map<UserId, Set<Subscriber>>();
  private readonly corked = new Set<Subscriber>();

  add(user: UserId, sub: Subscriber): void {
    let subs = this.byUser.get(user);
    if (!subs) this.byUser.set(user, (subs = new Set()));
    subs.add(sub);
  }

  remove(user: UserId, sub: Subscriber): void {
    const subs = this.byUser.get(user);
    if (!subs) return;
    subs.delete(sub);
    if (subs.size === 0) this.byUser.delete(user);
  }

  /** Hands the notification to every live subscription of `user`; answers how many there were. */
  deliver(user: UserId, notification: LiveNotification): number {
    const subs = this.byUser.get(user);
    if (!subs) return 0;
    for (const sub of subs) {
      if (!this.corked.has(sub)) {
        sub.cork();
        this.corked.add(sub);
        // One socket write per subscriber for everything delivered in this turn, not one per notification.
        if (this.corked.size === 1) process.nextTick(() => this.uncorkAll());
      }
      sub.push(notification);
    }
    return subs.size;
  }

  private uncorkAll(): void {
    for (const sub of this.corked) sub.uncork();
    this.corked.clear();
  }

  get users(): number {
    return this.byUser.size;
  }
}
