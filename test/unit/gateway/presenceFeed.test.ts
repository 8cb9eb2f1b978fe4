import { describe, expect, it } from 'vitest';
import { PRESENCE_MAX, type PresenceUpdate } from '../../../core/PresenceUpdate';
import type { Coordinator } from '../../../cluster/Coordinator';
import type { NodeRef } from '../../../cluster/NodeRef';
import { PresenceFeed } from '../../../gateway/PresenceFeed';
import { shardOf } from '../../../storage/Keyspace';
import { createLogger } from '../../../core/logger';

const SHARDS = 8;
const log = createLogger('test', 'silent');
const tick = () => new Promise((r) => setImmediate(r));

/** Two nodes: shards 0-3 on a, 4-7 on b; each records the presence messages it gets. */
function cluster(fail = () => false) {
  const got: Record<string, PresenceUpdate[]> = { a: [], b: [] };
  const ref = (id: string) =>
    ({
      id,
      call: async (op: string, msg: PresenceUpdate) => {
        expect(op).toBe('presence');
        if (fail()) throw new Error('down');
        got[id].push(msg);
      },
    }) as unknown as NodeRef;
  const nodes = new Map([
    ['a', ref('a')],
    ['b', ref('b')],
  ]);
  const owner = (s: number) => (s < 4 ? 'a' : 'b');
  const table = { shardCount: SHARDS, ownerOf: owner, shardsOf: (id: string) => [...Array(SHARDS).keys()].filter((s) => owner(s) === id) };
  return { got, nodes, feed: new PresenceFeed({ table, nodes } as unknown as Coordinator, log) };
}

describe('PresenceFeed', () => {
  it('reports a user absent once its last subscription ended and every first read settled, with the newest mark', async () => {
    const { got, nodes, feed } = cluster();
    const one = feed.open('ann');
    const two = feed.open('ann');
    expect(two.seq).toBeGreaterThan(one.seq);
    one.settled();
    one.closed();
    two.closed();
    // two's read may still mark ann present on her owner: no absence may overtake it.
    await tick();
    expect([...got.a, ...got.b]).toEqual([]);
    two.settled();
    two.settled();
    await tick();
    const shard = shardOf('ann', SHARDS);
    const owner = shard < 4 ? 'a' : 'b';
    expect(got[owner]).toEqual([{ absent: [['ann', shard, two.seq]] }]);
    expect(feed.size).toBe(0);
    // A node's full statement lists only users subscribed now.
    const three = feed.open('ann');
    await feed.sync(nodes.get(owner)!);
    expect(got[owner].at(-1)).toEqual({ present: [['ann', shard, three.seq]], known: table(owner) });
  });

  it('states a shard handed over, in parts of PRESENCE_MAX, `known` only with the last and only if every part landed', async () => {
    let calls = 0;
    const failFirst = { on: false };
    const { got, nodes, feed } = cluster(() => failFirst.on && ++calls === 1);
    const users: string[] = [];
    for (let i = 0; users.length < PRESENCE_MAX + 10; i++) if (shardOf(`u${i}`, SHARDS) === 5) users.push(`u${i}`);
    for (const u of users) feed.open(u);
    await feed.handOver(5, nodes.get('b')!);
    expect(got.b.map((m) => [m.present?.length, m.known])).toEqual([
      [PRESENCE_MAX, undefined],
      [10, [5]],
    ]);
    got.b.length = 0;
    // The first part lost: the rest is not sent, and the shard stays unknown (the node sends everything of it).
    failFirst.on = true;
    await feed.handOver(5, nodes.get('b')!);
    expect(got.b).toEqual([]);
  });
});

function table(owner: string) {
  return [...Array(SHARDS).keys()].filter((s) => (s < 4 ? 'a' : 'b') === owner);
}
