import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ABSENT, KnownKeys, READ } from '../../../../actors/user/KnownKeys';
import { pack } from '../../../../core/Codec';
import { userKey, userRange } from '../../../../storage/Keyspace';
import { tempStore } from '../helpers';
import { keyScans } from '../keyScans';

describe('KnownKeys', () => {
  let box: Awaited<ReturnType<typeof tempStore>>;
  let scans: ReturnType<typeof keyScans>;
  beforeEach(async () => {
    box = await tempStore();
    scans = keyScans(box.store);
  });
  afterEach(async () => {
    await box.dispose();
  });
  const key = (other: string) => userKey(3, 'a', 'bob', other);

  it('answers READ until loaded; then ABSENT, READ or the value, with changes made before and during the load', async () => {
    await box.store.db.put(key('stored'), pack([1, 2]));
    const set = new KnownKeys(userRange(3, 'a', 'bob'));
    expect(set.lookup(key('stored'))).toBe(READ);
    set.changed(key('early'), [3, 4]); // before the load
    set.load(box.store);
    set.changed(key('stored'), undefined); // deleted while the scan runs
    set.changed(key('during'), [5, 6]);
    await scans.ended();
    expect(set.lookup(key('nobody'))).toBe(ABSENT);
    expect(set.lookup(key('stored'))).toBe(ABSENT);
    expect(set.lookup(key('early'))).toEqual([3, 4]);
    expect(set.lookup(key('during'))).toEqual([5, 6]);
  });

  it('keeps the value of a key read from LevelDB: the next lookup answers it without a read', async () => {
    await box.store.db.put(key('x'), pack(1));
    const set = new KnownKeys(userRange(3, 'a', 'bob'));
    set.load(box.store);
    await scans.ended();
    expect(set.lookup(key('x'))).toBe(READ);
    set.read(key('x'), 1);
    expect(set.lookup(key('x'))).toBe(1);
  });

  it('gives up past its bound: every lookup reads again', async () => {
    const batch = box.store.db.batch();
    for (let i = 0; i < 1100; i++) batch.put(key(`u${i}`), pack(i));
    await batch.write();
    const set = new KnownKeys(userRange(3, 'a', 'bob'));
    set.load(box.store);
    await scans.ended();
    expect(set.lookup(key('nobody'))).toBe(READ);
  });
});
