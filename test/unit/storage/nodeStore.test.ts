import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempStore } from '../actors/helpers';

describe('NodeStore.getOrdered', () => {
  let box: Awaited<ReturnType<typeof tempStore>>;
  beforeEach(async () => {
    box = await tempStore();
    // k000..k999 hold their own name; every other one is absent.
    const ops = Array.from({ length: 1000 }, (_, i) => `k${String(i).padStart(3, '0')}`)
      .filter((_, i) => i % 2 === 0)
      .map((key) => ({ type: 'put' as const, key, value: Buffer.from(key) }));
    await box.store.db.batch(ops);
  });
  afterEach(async () => {
    await box.dispose();
  });

  const text = (vs: Array<Uint8Array | undefined>) => vs.map((v) => (v ? Buffer.from(v).toString() : undefined));
  const key = (i: number) => `k${String(i).padStart(3, '0')}`;

  it('answers like a point read for dense keys, absent ones included', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => key(100 + i));
    expect(text(await box.store.getOrdered(keys))).toEqual(keys.map((k, i) => (i % 2 === 0 ? k : undefined)));
  });

  it('answers the same when the keys are sparse in their range (the scan gives way to point reads)', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => key(i * 50));
    const ordered = await box.store.getOrdered(keys, 2);
    expect(text(ordered)).toEqual(text(await box.store.db.getMany(keys)));
    expect(text(ordered)).toEqual(keys);
  });

  it('handles keys past the last stored one', async () => {
    expect(text(await box.store.getOrdered([key(998), 'k999', 'z']))).toEqual([key(998), undefined, undefined]);
  });
});
