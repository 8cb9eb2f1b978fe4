import { describe, expect, it } from 'vitest';
import { decide } from '../../../../actors/fanout/FanoutPolicy';
import { InterestProfile, type ProfileData } from '../../../../actors/user/InterestProfile';
import { DEFAULT_POLICY, DEFAULT_PROFILE } from '../../../../core/config';

// Recent engagements on entities: each entity is remembered from its own last engagement, and matches a tweet
// only while its decayed score holds (docs/fanout.md).
describe('InterestProfile entities', () => {
  const NOW = 1_800_000_000_000;
  const DAY = 24 * 3600 * 1000;
  const MINUTE = 60_000;

  it('forgets an entity engaged once 60 days ago, though the user engaged daily with others since', () => {
    const profile = new InterestProfile(undefined, DEFAULT_PROFILE);
    profile.follow('katy', 5, NOW - 61 * DAY);
    profile.engage('katy', true, 6, ['Moonlight'], 1, NOW - 60 * DAY);
    for (let d = 59; d >= 1; d--) profile.engage(`u${d}`, false, 1, [`topic${d % 3}`], 1, NOW - d * DAY);
    expect(profile.matching(['moonlight', 'topic1'], NOW)).toEqual(['topic1']);
    expect(profile.toData().ent.map((s) => s[0])).not.toContain('moonlight');
    // katy ranks first: notified for her rank, not for the forgotten entity.
    expect(decide(profile, 'katy', ['Moonlight'], NOW, DEFAULT_POLICY)).toMatchObject({ notify: true, reason: 'top-5-following', matchingEntities: [] });
  });

  it('keeps each entity its own last engagement and decays its score from there', () => {
    const profile = new InterestProfile(undefined, DEFAULT_PROFILE);
    profile.engage(undefined, false, 0, ['moonlight'], 2, NOW - 14 * DAY);
    profile.engage(undefined, false, 0, ['moonlight'], 1, NOW - 7 * DAY);
    profile.engage(undefined, false, 0, ['other'], 1, NOW - DAY);
    const moon = profile.toData().ent.find((s) => s[0] === 'moonlight')!;
    // 2 halved once by the second engagement, plus its 1, as of that engagement.
    expect(moon[1]).toBeCloseTo(2, 9);
    expect(moon[2]).toBe(NOW - 7 * DAY);
    expect(profile.matching(['moonlight'], NOW)).toEqual(['moonlight']);
    expect(profile.matching(['moonlight'], NOW + 1)).toEqual([]);
  });

  it('matches one like for the whole window at the defaults, and not after', () => {
    const profile = new InterestProfile(undefined, DEFAULT_PROFILE);
    profile.engage(undefined, false, 0, ['moonlight'], 1, NOW - DEFAULT_PROFILE.entityWindowMs + MINUTE);
    expect(profile.matching(['moonlight'], NOW)).toEqual(['moonlight']);
    expect(profile.matching(['moonlight'], NOW + 2 * MINUTE)).toEqual([]);
  });

  it('does not match an entity whose decayed score is under entityMinScore, however recent', () => {
    const data: ProfileData = {
      top: [],
      ent: [
        ['moonlight', DEFAULT_PROFILE.entityMinScore / 10, NOW - MINUTE],
        ['sun', DEFAULT_PROFILE.entityMinScore, NOW],
      ],
    };
    expect(new InterestProfile(data, DEFAULT_PROFILE).matching(['moonlight', 'sun'], NOW)).toEqual(['sun']);
    // A shorter half-life than the window: the score ends a weak interest before the window does.
    const fast = { ...DEFAULT_PROFILE, halfLifeMs: DAY };
    const profile = new InterestProfile(undefined, fast);
    profile.engage(undefined, false, 0, ['moonlight'], 1, NOW - 2 * DAY);
    profile.engage(undefined, false, 0, ['sun'], 3, NOW - 2 * DAY);
    expect(profile.matching(['moonlight', 'sun'], NOW)).toEqual(['sun']);
  });

  it('reads a profile stored before: re-stamped entities are judged by their decayed scores', () => {
    // As the former update wrote it: every entity re-stamped at the last engagement (a day ago), its score
    // decayed to then. moonlight was liked once 60 days ago, sun a day ago.
    const stamped = NOW - DAY;
    const data: ProfileData = {
      top: [['katy', 3, stamped]],
      ent: [
        ['sun', 1, stamped],
        ['moonlight', Math.pow(2, -59 / 7), stamped],
      ],
    };
    const profile = new InterestProfile(data, DEFAULT_PROFILE);
    expect(profile.matching(['moonlight', 'sun'], NOW)).toEqual(['sun']);
    expect(decide(profile, 'katy', ['sun'], NOW, DEFAULT_POLICY)).toMatchObject({ notify: true, matchingEntities: ['sun'] });
    // And it is updated as any other: a new engagement keeps the others' times.
    profile.engage(undefined, false, 0, ['rain'], 1, NOW);
    expect(profile.toData().ent.map((s) => [s[0], s[2]])).toEqual([
      ['rain', NOW],
      ['sun', stamped],
      ['moonlight', stamped],
    ]);
  });

  it('keeps the best maxEntities by score now, dropping the lowest', () => {
    const profile = new InterestProfile(undefined, { ...DEFAULT_PROFILE, maxEntities: 2 });
    profile.engage(undefined, false, 0, ['a'], 3, NOW - 6 * DAY);
    profile.engage(undefined, false, 0, ['b'], 1, NOW - DAY);
    profile.engage(undefined, false, 0, ['c'], 2, NOW);
    // a: 3 * 2^(-6/7) ≈ 1.66, b: 2^(-1/7) ≈ 0.91, c: 2.
    expect(profile.toData().ent.map((s) => s[0])).toEqual(['c', 'a']);
  });
});
