import type { Notification, UserId } from '../actors/Event';

/** A live subscription of one socket to its user's notifications. */
export interface Subscriber {
  push(notification: Notification): void;
}

/**
 * Which sockets of this gateway are subscribed for which user (the presence the gateway needs to deliver).
 * Nodes answer each batch with the notifications it created; the gateway hands each to its user's sockets here.
 */
export class ConnectionRegistry {
  private readonly byUser = new Map<UserId, Set<Subscriber>>();

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
  deliver(user: UserId, notification: Notification): number {
    const subs = this.byUser.get(user);
    if (!subs) return 0;
    for (const sub of subs) sub.push(notification);
    return subs.size;
  }

  get users(): number {
    return this.byUser.size;
  }
}
