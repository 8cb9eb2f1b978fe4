import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { shardPrefix } from '../../../storage/Keyspace';
import { decodeFrame, encodeFrame } from '../../../storage/ShardFrame';
import { ShardRange } from '../../../storage/ShardRange';
import { tempStore } from '../actors/helpers';

describe('ShardRange', () => {
  let box: Awaited<ReturnType<typeof tempStore>>;
  beforeEach(async () => {
    box = await tempStore();
  });
  afterEach(async () => {
    await box.dispose();
  });

  it('reads a snapshot in full parts, whatever the size of the rows, and ends only when it is exhausted', async () => {
    const range = new ShardRange(box.store);
    const value = new Uint8Array(2000).fill(7);
    const key = (s: number, i: number) => `${shardPrefix(s)}t!u!${String(i).padStart(5, '0')}`;
    await box.store.applied.write(Array.from({ length: 2500 }, (_, i) => ({ type: 'put' as const, key: key(3, i), value })));
    await box.store.applied.write([{ type: 'put', key: key(4, 0), value }]);
    const snapshot = range.snapshot(3);
    // Written after the snapshot: not in it.
    await box.store.applied.write([{ type: 'put', key: key(3, 9999), value }]);
    const first = await range.readPart(snapshot, 1000);
    const second = await range.readPart(snapshot, 1000);
    const third = await range.readPart(snapshot, 1000);
    await snapshot.close();
    expect([first.keys, first.done, second.keys, second.done, third.keys, third.done]).toEqual([1000, false, 1000, false, 500, true]);
    const rows = [first, second, third].flatMap((p) => decodeFrame(p.frame));
    expect(rows.map(([k]) => k)).toEqual(Array.from({ length: 2500 }, (_, i) => key(3, i)));
    expect(rows.every(([, v]) => v && Buffer.from(v).equals(Buffer.from(value)))).toBe(true);
    expect(first.bytes).toBe(1000 * (key(3, 0).length + 2000));
  });

  it('writes a part with deletions, refuses keys of another shard, and persists', async () => {
    const range = new ShardRange(box.store);
    const put = (k: string) => ({ type: 'put' as const, key: shardPrefix(2) + k, value: new Uint8Array([1]) });
    await box.store.applied.write([put('a'), put('b')]);
    const part = await range.readKeys([shardPrefix(2) + 'a', shardPrefix(2) + 'gone']);
    expect(decodeFrame(part.frame).map(([k, v]) => [k, v && [...v]])).toEqual([
      [shardPrefix(2) + 'a', [1]],
      [shardPrefix(2) + 'gone', undefined],
    ]);
    await box.store.applied.write([{ type: 'put', key: shardPrefix(2) + 'gone', value: new Uint8Array([2]) }]);
    expect(await range.writePart(2, part.frame)).toBe(2);
    expect(box.store.db.getSync(shardPrefix(2) + 'gone')).toBeUndefined();
    await expect(range.writePart(5, part.frame)).rejects.toMatchObject({ code: 'HERALD_INVALID_MESSAGE' });
    await range.persist();
  });

  it('frames non-ASCII keys, empty values and deletions byte for byte, and refuses a truncated frame', () => {
    const rows: Array<[string, Uint8Array | undefined]> = [
      ['0001!t!zoë🌍!1', new Uint8Array([1, 2, 3])],
      ['0001!u!é', new Uint8Array(0)],
      ['0001!d!x', undefined],
    ];
    const frame = encodeFrame(rows);
    expect(decodeFrame(frame).map(([k, v]) => [k, v && [...v]])).toEqual(rows.map(([k, v]) => [k, v && [...v]]));
    expect(() => decodeFrame(frame.subarray(0, frame.length - 1))).toThrow(RangeError);
  });

  it('tells which shards hold keys, with one iterator', async () => {
    const range = new ShardRange(box.store);
    const put = (shard: number, k: string) => ({ type: 'put' as const, key: shardPrefix(shard) + k, value: new Uint8Array([1]) });
    await box.store.applied.write([put(1, 'a'), put(3, 'b'), put(17, 'c'), { type: 'put', key: '~meta!x', value: new Uint8Array([1]) }]);
    expect(await range.nonEmpty([17, 0, 1, 2, 3, 255])).toEqual([1, 3, 17]);
    expect(await range.nonEmpty([])).toEqual([]);
  });

  it('drops a shard, paced or not, and nothing else', async () => {
    const range = new ShardRange(box.store);
    const put = (shard: number, i: number) => ({ type: 'put' as const, key: `${shardPrefix(shard)}t!u!${i}`, value: new Uint8Array([1]) });
    await box.store.applied.write([...Array.from({ length: 2500 }, (_, i) => put(6, i)), ...Array.from({ length: 30 }, (_, i) => put(7, i)), put(5, 0)]);
    const t0 = Date.now();
    await range.drop(6, 25_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    await range.drop(7);
    expect(await range.nonEmpty([5, 6, 7])).toEqual([5]);
  });
});
