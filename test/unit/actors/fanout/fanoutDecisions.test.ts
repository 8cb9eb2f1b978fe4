import { Encoder } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { decide, reasonOf, ruleOf } from '../../../../actors/fanout/FanoutPolicy';
import { InterestProfile, type ProfileData } from '../../../../actors/user/InterestProfile';
import { DEFAULT_POLICY, DEFAULT_PROFILE } from '../../../../core/config';
import { StoredProfileReader } from '../../../../actors/user/StoredProfile';
import { pack } from '../../../../core/Codec';

// The bulk path decides from a stored profile's bytes; it must agree with `decide` over the decoded profile.
describe('fanout decisions from stored bytes', () => {
  const NOW = 1_800_000_000_000;
  const DAY = 24 * 3600 * 1000;

  /** A seeded generator, so a failure names a reproducible profile. */
  function rng(seed: number) {
    return () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
  }

  function bulkReason(bytes: Uint8Array, author: string, entities: string[], now: number): string | undefined {
    const reader = new StoredProfileReader(author, entities);
    expect(reader.read(bytes, now - DEFAULT_PROFILE.entityWindowMs)).toBe(true);
    const rule = ruleOf(reader.rank, reader.matched !== 0, DEFAULT_POLICY);
    return rule
      ? reasonOf(
          rule,
          reader.entities.filter((_, i) => reader.matched & (1 << i)),
          DEFAULT_POLICY,
        )
      : undefined;
  }

  it('agrees with decide() on profiles built by InterestProfile', () => {
    const random = rng(7);
    const users = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    const topics = ['Moonlight', 'lalaland', 'café', '🌍', 'x'];
    let notified = 0;
    const reasons = new Set<string>();
    for (let p = 0; p < 400; p++) {
      const profile = new InterestProfile(undefined, DEFAULT_PROFILE);
      let t = NOW - 9 * DAY;
      for (let k = 0; k < 1 + random() * 40; k++) {
        t += (random() * DAY) / 4;
        const target = users[Math.floor(random() * users.length)];
        if (random() < 0.5) profile.follow(target, 1 + random() * 10, t);
        else
          profile.engage(
            target,
            random() < 0.7,
            1 + random() * 5,
            topics.filter(() => random() < 0.3),
            1 + Math.floor(random() * 3),
            t,
          );
        if (random() < 0.05) profile.unfollow(target);
      }
      const bytes = pack(profile.toData());
      const author = users[Math.floor(random() * users.length)];
      const entities = topics.filter(() => random() < 0.4).map((e) => (random() < 0.5 ? e.toUpperCase() : e));
      const expected = decide(new InterestProfile(profile.toData(), DEFAULT_PROFILE), author, entities, NOW, DEFAULT_POLICY);
      const reader = new StoredProfileReader(author, entities);
      expect(reader.read(bytes, NOW - DEFAULT_PROFILE.entityWindowMs)).toBe(true);
      expect({ rank: reader.rank, topLength: reader.topLength }).toEqual({ rank: expected.rank, topLength: expected.topN });
      expect(bulkReason(bytes, author, entities, NOW)).toBe(expected.reason);
      if (expected.notify) notified++;
      if (expected.reason) reasons.add(expected.reason.split(':')[0]);
    }
    // Both arms of the rule were exercised, and not everyone was notified.
    expect(notified).toBeGreaterThan(20);
    expect(notified).toBeLessThan(380);
    expect([...reasons].sort()).toEqual(['top-5-following', 'top-following+entity']);
  });

  it('reads every msgpack number width, keys in any order and fields it does not know', () => {
    const data = {
      ent: [
        ['moonlight', 1.5, NOW - 1],
        ['old', 2, NOW - 8 * DAY],
      ],
      extra: { a: [1, 'x', null, true] },
      top: [
        ['a', -3, 0],
        ['katy', 70000, NOW],
      ],
    };
    const reader = new StoredProfileReader('katy', ['Moonlight', 'OLD', 'none']);
    expect(reader.read(pack(data), NOW - 7 * DAY)).toBe(true);
    expect({ rank: reader.rank, matched: reader.matched, topLength: reader.topLength }).toEqual({ rank: 2, matched: 0b001, topLength: 2 });
    // float32 timestamps and int64 ones: still numbers.
    const f32 = new Encoder({ forceFloat32: true }).encode({ top: [], ent: [['old', 2.5, NOW - 8 * DAY + 0.5]] });
    expect(reader.read(f32, NOW - 9 * DAY)).toBe(true);
    expect(reader.matched).toBe(0b010);
    const empty: ProfileData = { top: [], ent: [] };
    expect(reader.read(pack(empty), 0)).toBe(true);
    expect({ rank: reader.rank, matched: reader.matched }).toEqual({ rank: 0, matched: 0 });
  });

  it('refuses bytes that are not a stored profile (the caller then decodes them)', () => {
    const reader = new StoredProfileReader('katy', ['x']);
    const good = pack({ top: [['katy', 1, NOW]], ent: [['x', 1, NOW]] });
    expect(reader.read(good.subarray(0, good.length - 3), 0)).toBe(false);
    expect(reader.read(pack([1, 2, 3]), 0)).toBe(false);
    expect(reader.read(pack({ top: 'nope', ent: [] }), 0)).toBe(false);
    expect(reader.read(pack({ top: [['katy', 'not a number', NOW]], ent: [] }), 0)).toBe(true);
    expect(reader.read(pack({ top: [], ent: [['x', 1, 'not a time']] }), 0)).toBe(false);
  });

  it('says it cannot hold a mask of more than 31 entities', () => {
    expect(
      new StoredProfileReader(
        'a',
        Array.from({ length: 31 }, (_, i) => `e${i}`),
      ).usable,
    ).toBe(true);
    expect(
      new StoredProfileReader(
        'a',
        Array.from({ length: 32 }, (_, i) => `e${i}`),
      ).usable,
    ).toBe(false);
  });
});
