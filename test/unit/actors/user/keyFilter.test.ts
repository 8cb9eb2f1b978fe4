import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyFilter, fingerprint } from '../../../../actors/user/KeyFilter';
import { ABSENT, READ } from '../../../../actors/user/KnownKeys';
import { pack } from '../../../../core/Codec';
import { userKey, userRange } from '../../../../storage/Keyspace';
import { tempStore } from '../helpers';
import { keyScans } from '../keyScans';

describe('KeyFilter', () => {
  let box: Awaited<ReturnType<typeof tempStore>>;
  let scans: ReturnType<typeof keyScans>;
  beforeEach(async () => {
    box = await tempStore();
    scans = keyScans(box.store);
  });
  afterEach(async () => {
    await box.dispose();
  });
  const key = (id: string) => userKey(3, 'd', 'bob', `alice!${id}`);

  it('answers READ until loaded; then ABSENT for a new key and READ for a stored one or one put before or during the load', async () => {
    await box.store.db.put(key('stored'), pack({ at: 1, offset: 0 }));
    const filter = new KeyFilter(userRange(3, 'd', 'bob'));
    expect(filter.lookup(key('stored'))).toBe(READ);
    expect(filter.lookup(key('nobody'))).toBe(READ);
    filter.changed(key('early'), { at: 2, offset: 1 }); // before the load
    filter.load(box.store);
    filter.changed(key('during'), { at: 3, offset: 2 });
    await scans.ended();
    expect(filter.lookup(key('nobody'))).toBe(ABSENT);
    for (const id of ['stored', 'early', 'during']) expect(filter.lookup(key(id))).toBe(READ);
    filter.changed(key('after'), { at: 4, offset: 3 });
    expect(filter.lookup(key('after'))).toBe(READ);
  });

  it('keeps a deleted key as READ (a read then finds nothing): it never answers ABSENT for a key that may exist', async () => {
    const filter = new KeyFilter(userRange(3, 'd', 'bob'));
    filter.load(box.store);
    await scans.ended();
    filter.changed(key('x'), { at: 1, offset: 0 });
    filter.changed(key('x'), undefined);
    expect(filter.lookup(key('x'))).toBe(READ);
  });

  it('holds thousands of keys through its growth with no false ABSENT, and answers ABSENT for nearly every other key', async () => {
    const filter = new KeyFilter(userRange(3, 'd', 'bob'));
    filter.load(box.store);
    await scans.ended();
    for (let i = 0; i < 5000; i++) filter.changed(key(`in${i}`), { at: i, offset: i });
    for (let i = 0; i < 5000; i++) expect(filter.lookup(key(`in${i}`))).toBe(READ);
    let absent = 0;
    for (let i = 0; i < 5000; i++) if (filter.lookup(key(`out${i}`)) === ABSENT) absent++;
    expect(absent).toBeGreaterThanOrEqual(4999);
  });

  it('gives up past 8,192 keys, loaded or put: every lookup reads again', async () => {
    const batch = box.store.db.batch();
    for (let i = 0; i < 8200; i++) batch.put(key(`s${i}`), pack(i));
    await batch.write();
    const loaded = new KeyFilter(userRange(3, 'd', 'bob'));
    loaded.load(box.store);
    await scans.ended();
    expect(loaded.lookup(key('nobody'))).toBe(READ);

    const put = new KeyFilter(userRange(4, 'd', 'bob'));
    put.load(box.store);
    await scans.ended();
    expect(put.lookup(key('nobody'))).toBe(ABSENT);
    for (let i = 0; i < 8193; i++) put.changed(key(`p${i}`), 1);
    expect(put.lookup(key('nobody'))).toBe(READ);
  });

  it('fingerprints are never 0 (the empty slot) and differ for keys that differ in one character', () => {
    expect(fingerprint('')).not.toBe(0);
    expect(fingerprint(key('a1'))).not.toBe(fingerprint(key('a2')));
  });
});
