import { involvedUsers, type HeraldEvent, type UserId } from '../actors/Event';
import type { NodeChannel } from '../cluster/NodeChannel';
import type { NodeRef } from '../cluster/NodeRef';
import type { ShardTable } from '../cluster/ShardTable';
import { HeraldError, type ErrorCode } from '../storage/HeraldError';
import { shardOf } from '../storage/Keyspace';

/**
 * user → shard → node, and publishing: each event goes once to each node that owns a user it touches, with the
 * list of those users, through that node's batching channel. A publish resolves only when every owner has
 * written every event durably; if any owner refused, it fails with that code and the producer retries with the
 * same event ids (owners that already applied them ignore the retry).
 */
export class Router {
  constructor(
    private readonly table: () => ShardTable,
    private readonly channels: ReadonlyMap<string, NodeChannel>,
  ) {}

  nodeOf(user: UserId): NodeRef {
    return this.channelOf(user).node;
  }

  private channelOf(user: UserId): NodeChannel {
    const table = this.table();
    const node = table.ownerOf(shardOf(user, table.shardCount));
    const channel = this.channels.get(node);
    if (!channel) throw new HeraldError('HERALD_UNAVAILABLE', `no channel to node ${node}`);
    return channel;
  }

  async publish(events: HeraldEvent[]): Promise<number> {
    const sends: Array<Promise<string | null>> = [];
    for (const event of events) {
      const byNode = new Map<NodeChannel, UserId[]>();
      for (const user of involvedUsers(event)) {
        const channel = this.channelOf(user);
        const users = byNode.get(channel);
        if (users) users.push(user);
        else byNode.set(channel, [user]);
      }
      for (const [channel, users] of byNode) sends.push(channel.send({ event, users }));
    }
    const outcomes = await Promise.allSettled(sends);
    for (const o of outcomes) {
      if (o.status === 'rejected') throw HeraldError.from(o.reason);
      if (o.value !== null) {
        const code = (o.value === 'HERALD_WRONG_OWNER' ? 'HERALD_UNAVAILABLE' : o.value) as ErrorCode;
        throw new HeraldError(code, 'an owning node did not accept the events; retry with the same ids');
      }
    }
    return events.length;
  }
}
