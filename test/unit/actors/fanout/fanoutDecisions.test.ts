import { Encoder } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { decide, reasonOf, ruleOf } from '../../../../actors/fanout/FanoutPolicy';
import { InterestProfile, type ProfileData } from '../../../../actors/user/InterestProfile';
import { DEFAULT_POLICY, DEFAULT_PROFILE, type ProfileOptions } from '../../../../core/config';
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

  function bulkReason(bytes: Uint8Array, author: string, entities: string[], now: number, opts: ProfileOptions = DEFAULT_PROFILE): string | undefined {
    const reader = new StoredProfileReader(author, entities, opts);
    expect(reader.read(bytes, now)).toBe(true);
    const rule = ruleOf(reader.rank, reader.matched !== 0, DEFAULT_POLICY);
    return rule
      ? reasonOf(
          rule,
          reader.entities.filter((_, i) => reader.matched & (1 << i)),
          DEFAULT_POLICY,
        )
      : undefined;
  }

  /** 400 random profiles of one to forty engagements over `days`, each decided both ways at NOW. */
  function agreeOnRandomProfiles(seed: number, days: number, opts: ProfileOptions) {
    const random = rng(seed);
    const users = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    const topics = ['Moonlight', 'lalaland', 'café', '🌍', 'x'];
    let notified = 0;
    let heldNotMatched = 0;
    const reasons = new Set<string>();
    for (let p = 0; p < 400; p++) {
      const profile = new InterestProfile(undefined, opts);
      const steps = 1 + random() * 40;
      for (let k = 0; k < steps; k++) {
        // In time order over the span, the last ones near NOW.
        const t = NOW - days * DAY * (1 - (k + random()) / steps);
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
      const expected = decide(new InterestProfile(profile.toData(), opts), author, entities, NOW, DEFAULT_POLICY);
      const reader = new StoredProfileReader(author, entities, opts);
      expect(reader.read(bytes, NOW)).toBe(true);
      expect({ rank: reader.rank, topLength: reader.topLength }).toEqual({ rank: expected.rank, topLength: expected.topN });
      expect(bulkReason(bytes, author, entities, NOW, opts)).toBe(expected.reason);
      const held = new Set(profile.toData().ent.map((s) => s[0]));
      heldNotMatched += reader.entities.filter((e) => held.has(e) && !expected.matchingEntities.includes(e)).length;
      if (expected.notify) notified++;
      if (expected.reason) reasons.add(expected.reason.split(':')[0]);
    }
    // Both arms of the rule were exercised, and not everyone was notified.
    expect(notified).toBeGreaterThan(20);
    expect(notified).toBeLessThan(380);
    expect([...reasons].sort()).toEqual(['top-5-following', 'top-following+entity']);
    return { heldNotMatched };
  }

  it('agrees with decide() on profiles built by InterestProfile', () => {
    agreeOnRandomProfiles(7, 9, DEFAULT_PROFILE);
  });

  it('agrees with decide() when entities expire and scores fall under the threshold', () => {
    // Over 60 days entities pass their window; with a one-day half-life many held ones score under entityMinScore.
    expect(agreeOnRandomProfiles(11, 60, DEFAULT_PROFILE).heldNotMatched).toBeGreaterThan(0);
    expect(agreeOnRandomProfiles(13, 9, { ...DEFAULT_PROFILE, halfLifeMs: DAY }).heldNotMatched).toBeGreaterThan(20);
  });

  it('does not match an entity engaged once 60 days ago, though others were engaged daily since', () => {
    const profile = new InterestProfile(undefined, DEFAULT_PROFILE);
    for (let f = 0; f < 6; f++) profile.follow(`f${f}`, 10 - f, NOW - 61 * DAY);
    profile.follow('katy', 1, NOW - 61 * DAY);
    profile.engage('katy', true, 2, ['Moonlight'], 1, NOW - 60 * DAY);
    for (let d = 59; d >= 1; d--) profile.engage(`f${d % 6}`, true, 20 + d, [`topic${d % 3}`], 1, NOW - d * DAY);
    const bytes = pack(profile.toData());
    // katy ranks 7th: only a matching entity would notify.
    expect(decide(profile, 'katy', ['moonlight'], NOW, DEFAULT_POLICY)).toMatchObject({ rank: 7, notify: false });
    expect(bulkReason(bytes, 'katy', ['moonlight'], NOW)).toBeUndefined();
    expect(bulkReason(bytes, 'katy', ['moonlight', 'topic2'], NOW)).toBe('top-following+entity:topic2');
  });

  it('weighs the decayed score against entityMinScore on both paths, and reads the former profiles alike', () => {
    const min = DEFAULT_PROFILE.entityMinScore;
    const cases: Array<[ProfileData, string[]]> = [
      // Engaged a minute ago with a tiny score: under the threshold, no match.
      [{ top: [['katy', 1, NOW]], ent: [['moonlight', min / 10, NOW - 60_000]] }, []],
      [{ top: [['katy', 1, NOW]], ent: [['moonlight', min, NOW]] }, ['moonlight']],
      // As the former update stored it: every entity re-stamped a day ago, moonlight's score from 60 days back.
      [
        {
          top: [['katy', 1, NOW - DAY]],
          ent: [
            ['sun', 1, NOW - DAY],
            ['moonlight', Math.pow(2, -59 / 7), NOW - DAY],
          ],
        },
        ['sun'],
      ],
    ];
    for (const [data, matching] of cases) {
      const expected = decide(new InterestProfile(data, DEFAULT_PROFILE), 'katy', ['moonlight', 'sun'], NOW, { ...DEFAULT_POLICY, alwaysRank: 0 });
      expect(expected.matchingEntities).toEqual(matching);
      const reader = new StoredProfileReader('katy', ['moonlight', 'sun'], DEFAULT_PROFILE);
      expect(reader.read(pack(data), NOW)).toBe(true);
      expect(reader.entities.filter((_, i) => reader.matched & (1 << i))).toEqual(matching);
    }
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
    const reader = new StoredProfileReader('katy', ['Moonlight', 'OLD', 'none'], DEFAULT_PROFILE);
    expect(reader.read(pack(data), NOW)).toBe(true);
    expect({ rank: reader.rank, matched: reader.matched, topLength: reader.topLength }).toEqual({ rank: 2, matched: 0b001, topLength: 2 });
    // float32 timestamps and int64 ones: still numbers.
    const f32 = new Encoder({ forceFloat32: true }).encode({ top: [], ent: [['old', 2.5, NOW - 8 * DAY + 0.5]] });
    expect(reader.read(f32, NOW - 2 * DAY)).toBe(true);
    expect(reader.matched).toBe(0b010);
    const empty: ProfileData = { top: [], ent: [] };
    expect(reader.read(pack(empty), NOW)).toBe(true);
    expect({ rank: reader.rank, matched: reader.matched }).toEqual({ rank: 0, matched: 0 });
  });

  it('refuses bytes that are not a stored profile (the caller then decodes them)', () => {
    const reader = new StoredProfileReader('katy', ['x'], DEFAULT_PROFILE);
    const good = pack({ top: [['katy', 1, NOW]], ent: [['x', 1, NOW]] });
    expect(reader.read(good.subarray(0, good.length - 3), 0)).toBe(false);
    expect(reader.read(pack([1, 2, 3]), 0)).toBe(false);
    expect(reader.read(pack({ top: 'nope', ent: [] }), 0)).toBe(false);
    expect(reader.read(pack({ top: [['katy', 'not a number', NOW]], ent: [] }), 0)).toBe(true);
    expect(reader.read(pack({ top: [], ent: [['x', 1, 'not a time']] }), 0)).toBe(false);
    expect(reader.read(pack({ top: [], ent: [['x', 'not a score', NOW]] }), 0)).toBe(false);
  });

  it('says it cannot hold a mask of more than 31 entities', () => {
    expect(
      new StoredProfileReader(
        'a',
        Array.from({ length: 31 }, (_, i) => `e${i}`),
        DEFAULT_PROFILE,
      ).usable,
    ).toBe(true);
    expect(
      new StoredProfileReader(
        'a',
        Array.from({ length: 32 }, (_, i) => `e${i}`),
        DEFAULT_PROFILE,
      ).usable,
    ).toBe(false);
  });
});
