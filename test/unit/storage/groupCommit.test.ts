import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pack, unpack } from '../../../core/Codec';
import { GroupCommit, LATER_MS } from '../../../storage/GroupCommit';
import { NodeStore } from '../../../storage/NodeStore';
import { STORE_OPTIONS } from '../actors/helpers';

describe('GroupCommit', () => {
  let dir: string;
  let store: NodeStore;
  let gc: GroupCommit;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-gc-'));
    store = await NodeStore.open(dir, STORE_OPTIONS);
    gc = new GroupCommit(store.db, false);
  });
  afterEach(async () => {
    await gc.drain();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const read = (key: string) => {
    const v = store.db.getSync(key);
    return v === undefined ? undefined : unpack(v);
  };

  it('coalesces many concurrent writes into fewer batches, all resolve, data readable after', async () => {
    const N = 500;
    const writes = Array.from({ length: N }, (_, i) => gc.write([{ type: 'put', key: `k${i}`, value: pack(i) }]));
    await expect(Promise.all(writes)).resolves.toHaveLength(N);
    expect(gc.stats.batches).toBeGreaterThan(0);
    expect(gc.stats.batches).toBeLessThan(N);
    expect(gc.stats.ops).toBe(N);
    expect(gc.stats.maxBatch).toBeGreaterThan(1);
    for (let i = 0; i < N; i += 37) expect(read(`k${i}`)).toBe(i);
  });

  it('keeps order: a later put to the same key wins, also across batches', async () => {
    const first = gc.write([{ type: 'put', key: 'x', value: pack('a') }]);
    const second = gc.write([{ type: 'put', key: 'x', value: pack('b') }]);
    await Promise.all([first, second]);
    expect(read('x')).toBe('b');

    // One batch on disk, more queued behind it: they must land after it, in order.
    const p1 = gc.write([{ type: 'put', key: 'y', value: pack(1) }]);
    await new Promise((r) => setImmediate(r)); // the first batch is now being written
    const p2 = gc.write([{ type: 'put', key: 'y', value: pack(2) }]);
    const p3 = gc.write([
      { type: 'put', key: 'y', value: pack(3) },
      { type: 'del', key: 'x' },
    ]);
    await Promise.all([p1, p2, p3]);
    expect(read('y')).toBe(3);
    expect(read('x')).toBeUndefined();
  });

  it('an empty write resolves without a batch; drain waits for everything queued', async () => {
    await gc.write([]);
    expect(gc.stats.batches).toBe(0);
    void gc.write([{ type: 'put', key: 'z', value: pack(true) }]);
    await gc.drain();
    expect(read('z')).toBe(true);
    expect(gc.stats.batches).toBe(1);
  });

  it('a failed batch fails the writer: its writers and every later write reject, nothing later lands', async () => {
    let fail = true;
    const written: string[][] = [];
    const fakeDb = {
      batch() {
        const keys: string[] = [];
        return {
          _put: (k: string) => keys.push(k),
          _del: (k: string) => keys.push(k),
          _write: async () => {
            if (fail) {
              fail = false;
              throw new Error('disk full');
            }
            written.push(keys);
          },
          close: async () => undefined,
        };
      },
    };
    const g = new GroupCommit(fakeDb as never, true);
    const failures: string[] = [];
    g.onFailure = (err) => failures.push(err.code);
    const a = g.write([{ type: 'put', key: 'a', value: pack(1) }]);
    const b = g.write([{ type: 'put', key: 'b', value: pack(1) }]);
    await expect(a).rejects.toThrow('disk full');
    await expect(b).rejects.toMatchObject({ code: 'HERALD_UNAVAILABLE' });
    // Callers pipeline writes: one queued after a lost write must not land on top of it.
    await expect(g.write([{ type: 'put', key: 'c', value: pack(1) }])).rejects.toMatchObject({ code: 'HERALD_UNAVAILABLE' });
    expect(written).toEqual([]);
    // Told once, so the node process can exit and be respawned from what LevelDB holds.
    expect(failures).toEqual(['HERALD_UNAVAILABLE']);
  });

  it('writes queued in one turn share one batch and one promise', async () => {
    const p1 = gc.write([{ type: 'put', key: 's1', value: pack(1) }]);
    const p2 = gc.write([
      { type: 'del', key: 's0' },
      { type: 'put', key: 's2', value: pack(2) },
    ]);
    expect(p2).toBe(p1);
    await p1;
    expect(gc.stats.batches).toBe(1);
    expect([read('s1'), read('s2')]).toEqual([1, 2]);
  });

  it('a later op makes no batch of its own: it rides on the next one, or drain (or the timer) writes it', async () => {
    await gc.write([{ type: 'put', key: 'l0', value: pack(0) }]);
    // Timers stopped just short of LATER_MS: a batch of its own would have been started by then (on a timer, or
    // on the next turn, as writes are) and flushed() would wait for it.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      gc.later([{ type: 'del', key: 'l0' }]);
      vi.advanceTimersByTime(LATER_MS - 1);
      await new Promise((r) => setImmediate(r));
      await gc.flushed();
    } finally {
      vi.useRealTimers();
    }
    expect(gc.stats.batches).toBe(1);
    expect(read('l0')).toBe(0);
    await gc.write([{ type: 'put', key: 'l1', value: pack(1) }]);
    expect(gc.stats.batches).toBe(2);
    expect(gc.stats.ops).toBe(3);
    expect([read('l0'), read('l1')]).toEqual([undefined, 1]);

    gc.later([{ type: 'del', key: 'l1' }]);
    await gc.drain();
    expect(gc.stats.batches).toBe(3);
    expect(read('l1')).toBeUndefined();
  });

  it('a later op queued while a batch is on disk goes out in a batch after it', async () => {
    const first = gc.write([{ type: 'put', key: 'm', value: pack(1) }]);
    await new Promise((r) => setImmediate(r)); // the first batch is now being written
    gc.later([{ type: 'del', key: 'm' }]);
    await first;
    await gc.drain();
    expect(read('m')).toBeUndefined();
    expect(gc.stats.batches).toBe(2);
  });
});
