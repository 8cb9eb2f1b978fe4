import { involvedUsers, type HeraldEvent, type UserId } from '../actors/Event';
import type { Coordinator } from '../cluster/Coordinator';
import type { NodeChannel } from '../cluster/NodeChannel';
import { HeraldError, type ErrorCode } from '../storage/HeraldError';
import { shardOf } from '../storage/Keyspace';

/** Attempts for work a node refused as not its own (the table changed under it): the router re-routes it. */
const ROUTE_ATTEMPTS = 6;
const backoff = (attempt: number) => new Promise((r) => setTimeout(r, 25 * 2 ** attempt));

/**
 * user → shard → node, and publishing: each event goes once to each node that owns a user it touches, with the
 * list of those users, through that node's batching channel. A publish resolves only when every owner has
 * written every event durably. Events of a moving shard wait until its move is done (bounded); work a node
 * refuses as not its own (a table change in flight) is re-routed with the new table. If an owner still refuses,
 * the publish fails with a retryable code and the producer retries with the same event ids.
 */
export class Router {
  constructor(private readonly coordinator: Coordinator) {}

  private shard(user: UserId): number {
    return shardOf(user, this.coordinator.table.shardCount);
  }

  private channelOf(user: UserId): NodeChannel {
    const node = this.coordinator.table.ownerOf(this.shard(user));
    const channel = this.coordinator.channels.get(node);
    if (!channel) throw new HeraldError('HERALD_UNAVAILABLE', `no channel to node ${node}`);
    return channel;
  }

  /** Calls `op` on the owner of `user` (a read), waiting out a move and re-routing after a table change. */
  async call<T>(user: UserId, op: string, args: object): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.coordinator.waitForShard(this.shard(user));
      try {
        return await this.channelOf(user).node.call<T>(op, args);
      } catch (err) {
        if (HeraldError.from(err).code !== 'HERALD_WRONG_OWNER' || attempt >= ROUTE_ATTEMPTS) throw retryable(err);
        await backoff(attempt);
      }
    }
  }

  /** `receivedAt`: when the gateway received the events (performance.now()), for the delivery latency metric. */
  async publish(events: HeraldEvent[], receivedAt = performance.now()): Promise<number> {
    await Promise.all(events.map((e) => this.route(e, involvedUsers(e), 0, receivedAt)));
    return events.length;
  }

  private async route(event: HeraldEvent, users: UserId[], attempt: number, receivedAt: number): Promise<void> {
    await Promise.all(users.map((u) => this.coordinator.waitForShard(this.shard(u))));
    const byNode = new Map<NodeChannel, UserId[]>();
    for (const user of users) {
      const channel = this.channelOf(user);
      const list = byNode.get(channel);
      if (list) list.push(user);
      else byNode.set(channel, [user]);
    }
    await Promise.all(
      [...byNode].map(async ([channel, group]) => {
        const code = await channel.send({ event, users: group }, receivedAt);
        if (code === null) return;
        if (code !== 'HERALD_WRONG_OWNER') throw new HeraldError(code as ErrorCode, 'an owning node did not accept the event; retry with the same ids');
        if (attempt >= ROUTE_ATTEMPTS) throw retryable(new HeraldError('HERALD_WRONG_OWNER', 'owner changed'));
        await backoff(attempt);
        await this.route(event, group, attempt + 1, receivedAt);
      }),
    );
  }
}

/** What clients see of an ownership race: a retryable HERALD_UNAVAILABLE. */
function retryable(err: unknown): HeraldError {
  const e = HeraldError.from(err);
  return e.code === 'HERALD_WRONG_OWNER' ? new HeraldError('HERALD_UNAVAILABLE', 'shard owner changing; retry with the same ids') : e;
}
