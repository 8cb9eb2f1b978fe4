import { involvedUsers, type HeraldEvent, type UserId } from '../core/Event';
import type { IngestItem, NodeOps } from '../core/nodeProtocol';
import type { Coordinator } from '../cluster/Coordinator';
import type { NodeChannel } from '../cluster/NodeChannel';
import { HeraldError, type ErrorCode } from '../core/HeraldError';
import { shardOf } from '../storage/Keyspace';

/** Attempts for work a node refused as not its own (the table changed under it): the router re-routes it. */
const ROUTE_ATTEMPTS = 6;
const backoff = (attempt: number) => new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
/** Users whose shard is remembered (a user's shard never changes: the shard count is fixed at creation). */
export const SHARD_CACHE_MAX = 100_000;

/** One event's share for one owning node: the users of the event that node owns (what the node ingests). */
type Part = IngestItem;

/**
 * user → shard → node, and publishing: each event goes once to each node that owns a user it touches, with the
 * list of those users, through that node's batching channel. A publish resolves only when every owner has
 * written every event durably. Events of a moving shard wait until its move is done (bounded); work a node
 * refuses as not its own (a table change in flight) is re-routed with the new table. If an owner still refuses,
 * the publish fails with a retryable code and the producer retries with the same event ids.
 */
export class Router {
  /** The md5 behind a shard was 7 % of the gateway's CPU (once per user per event); bounded, cleared when full. */
  private readonly shards = new Map<UserId, number>();
  private shardCount = 0;

  constructor(private readonly coordinator: Coordinator) {}

  private shard(user: UserId): number {
    const count = this.coordinator.table.shardCount;
    if (count !== this.shardCount) {
      this.shards.clear();
      this.shardCount = count;
    }
    let shard = this.shards.get(user);
    if (shard === undefined) {
      if (this.shards.size >= SHARD_CACHE_MAX) this.shards.clear();
      shard = shardOf(user, count);
      this.shards.set(user, shard);
    }
    return shard;
  }

  private channelOf(user: UserId): NodeChannel {
    const node = this.coordinator.table.ownerOf(this.shard(user));
    const channel = this.coordinator.channels.get(node);
    if (!channel) throw new HeraldError('HERALD_UNAVAILABLE', `no channel to node ${node}`);
    return channel;
  }

  /** Calls `op` on the owner of `user` (a read), waiting out a move and re-routing after a table change. */
  async call<K extends keyof NodeOps>(user: UserId, op: K, args: NodeOps[K]['args']): Promise<NodeOps[K]['reply']> {
    for (let attempt = 0; ; attempt++) {
      await this.coordinator.waitForShard(this.shard(user));
      try {
        return await this.channelOf(user).node.call(op, args);
      } catch (err) {
        if (HeraldError.from(err).code !== 'HERALD_WRONG_OWNER' || attempt >= ROUTE_ATTEMPTS) throw retryable(err);
        await backoff(attempt);
      }
    }
  }

  /** `receivedAt`: when the gateway received the events (performance.now()), for the delivery latency metric. */
  async publish(events: HeraldEvent[], receivedAt = performance.now()): Promise<number> {
    const parts: Part[] = [];
    for (const event of events) parts.push({ event, users: involvedUsers(event) });
    await this.route(parts, 0, receivedAt);
    return events.length;
  }

  /**
   * Sends every part to its owners and waits for all their answers at once (one promise per node send, none
   * per event). Parts an owner refused as not its own are re-routed together after a backoff.
   */
  private async route(parts: Part[], attempt: number, receivedAt: number): Promise<void> {
    let waits: Promise<void>[] | undefined;
    for (const part of parts) {
      for (const user of part.users) {
        const wait = this.coordinator.waitForShard(this.shard(user));
        if (wait) (waits ??= []).push(wait);
      }
    }
    if (waits) await Promise.all(waits);
    const sent: Part[] = [];
    const answers: Promise<string | null>[] = [];
    try {
      this.send(parts, sent, answers, receivedAt);
    } catch (err) {
      // What was already sent still gets its answer; nobody waits for it, so its refusal must not go unhandled.
      for (const answer of answers) answer.catch(() => undefined);
      throw err;
    }
    const codes = await Promise.all(answers);
    let refused: Part[] | undefined;
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i];
      if (code === null) continue;
      if (code !== 'HERALD_WRONG_OWNER') throw new HeraldError(code as ErrorCode, 'an owning node did not accept the event; retry with the same ids');
      (refused ??= []).push(sent[i]);
    }
    if (!refused) return;
    if (attempt >= ROUTE_ATTEMPTS) throw retryable(new HeraldError('HERALD_WRONG_OWNER', 'owner changed'));
    await backoff(attempt);
    await this.route(refused, attempt + 1, receivedAt);
  }

  /** Hands each part to the channel of each node owning some of its users; `sent[i]` is what `answers[i]` answers. */
  private send(parts: Part[], sent: Part[], answers: Promise<string | null>[], receivedAt: number): void {
    for (const part of parts) {
      const { event, users } = part;
      if (users.length === 1) {
        sent.push(part);
        answers.push(this.channelOf(users[0]).send(part, receivedAt));
        continue;
      }
      if (users.length === 2) {
        // The common case (a like, a follow): actor and target.
        const a = this.channelOf(users[0]);
        const b = this.channelOf(users[1]);
        if (a === b) {
          sent.push(part);
          answers.push(a.send(part, receivedAt));
        } else {
          const first: Part = { event, users: [users[0]] };
          const second: Part = { event, users: [users[1]] };
          sent.push(first, second);
          answers.push(a.send(first, receivedAt), b.send(second, receivedAt));
        }
        continue;
      }
      // A mention touches a few users: a linear scan groups them by node without a Map.
      const channels: NodeChannel[] = [];
      const groups: UserId[][] = [];
      for (const user of users) {
        const channel = this.channelOf(user);
        const i = channels.indexOf(channel);
        if (i < 0) {
          channels.push(channel);
          groups.push([user]);
        } else groups[i].push(user);
      }
      for (let i = 0; i < channels.length; i++) {
        const share: Part = channels.length === 1 ? part : { event, users: groups[i] };
        sent.push(share);
        answers.push(channels[i].send(share, receivedAt));
      }
    }
  }
}

/** What clients see of an ownership race: a retryable HERALD_UNAVAILABLE. */
function retryable(err: unknown): HeraldError {
  const e = HeraldError.from(err);
  return e.code === 'HERALD_WRONG_OWNER' ? new HeraldError('HERALD_UNAVAILABLE', 'shard owner changing; retry with the same ids') : e;
}
