import { describe, expect, it } from 'vitest';
import { check, type Entry } from './Checker';
import type { SubscriberLog } from './Subscribers';

// The checker must see what it is there to see: a clean run reads clean, and each kind of fault is counted.
const entries = (...spec: Array<[number, string]>): Entry[] => spec.map(([offset, id]) => ({ offset, eventIds: [id] }));

function sub(user: string, received: Array<[number, string]>, extra: Partial<SubscriberLog> = {}): SubscriberLog {
  return {
    user,
    received: new Map(received.map(([o, id]) => [o, [id]])),
    duplicates: 0,
    jumps: 0,
    recoveredFalse: 0,
    skipped: new Set(),
    connections: 1,
    subscribeErrors: 0,
    subscribeTimeouts: 0,
    epochs: new Set(['e']),
    last: Math.max(0, ...received.map(([o]) => o)),
    ...extra,
  };
}

describe('fault checker', () => {
  const acked = new Map([
    ['a', 'u1'],
    ['b', 'u1'],
    ['c', 'u2'],
  ]);

  it('reads a clean run as clean', () => {
    const r = check({
      acked,
      generated: acked,
      timelines: new Map([
        ['u1', entries([2, 'b'], [1, 'a'])],
        ['u2', entries([1, 'c'])],
      ]),
      subscribers: [
        sub('u1', [
          [1, 'a'],
          [2, 'b'],
        ]),
        sub('u2', [[1, 'c']]),
      ],
    });
    expect(r).toMatchObject({ acked: 3, entries: 3, lost: 0, duplicated: 0, gaps: 0, nonMonotonic: 0, misplaced: 0 });
    expect(r).toMatchObject({ subscriberGaps: 0, subscriberDuplicates: 0, subscriberMismatch: 0, subscribersBehind: 0 });
  });

  it('counts lost, duplicated, gaps, reordering and misplaced entries', () => {
    const generated = new Map([...acked, ['x', 'u2']]);
    const r = check({
      acked,
      generated,
      timelines: new Map([
        // b lost; a twice; offset 2 missing; 3 before 4 in a newest-first walk
        ['u1', entries([3, 'a'], [4, 'a'], [1, 'a'])],
        // c is on u2, x was sent but never acked (allowed), z was never sent
        ['u2', entries([3, 'z'], [2, 'x'], [1, 'c'])],
      ]),
      subscribers: [],
    });
    expect(r).toMatchObject({ lost: 1, duplicated: 2, gaps: 1, nonMonotonic: 1, misplaced: 1, appliedUnacked: 1 });
    expect(r.samples.lost).toEqual(['b → u1']);
    expect(r.samples.gaps).toEqual(['u1@2']);
  });

  it('counts what subscribers missed, got twice, got wrong or not yet, but not what recovered:false skipped', () => {
    const timelines = new Map([['u1', entries([5, 'e'], [4, 'd'], [3, 'c'], [2, 'b'], [1, 'a'])]]);
    const gap = check({
      acked: new Map(),
      generated: new Map(),
      timelines,
      subscribers: [
        sub(
          'u1',
          [
            [1, 'a'],
            [3, 'c'],
          ],
          { duplicates: 2 },
        ),
      ],
    });
    expect(gap).toMatchObject({ subscriberGaps: 1, subscriberDuplicates: 2, subscribersBehind: 1, subscriberTailMissing: 2 });
    expect(gap.samples.subscriberGaps).toEqual(['u1@2']);
    const wrong = check({
      acked: new Map(),
      generated: new Map(),
      timelines,
      subscribers: [
        sub('u1', [
          [1, 'a'],
          [2, 'x'],
          [3, 'c'],
          [4, 'd'],
          [5, 'e'],
        ]),
      ],
    });
    expect(wrong).toMatchObject({ subscriberGaps: 0, subscriberMismatch: 1, subscribersBehind: 0 });
    const refused = check({
      acked: new Map(),
      generated: new Map(),
      timelines,
      subscribers: [
        sub(
          'u1',
          [
            [1, 'a'],
            [5, 'e'],
          ],
          { recoveredFalse: 1, skipped: new Set([2, 3, 4]) },
        ),
      ],
    });
    expect(refused).toMatchObject({ recoveredFalse: 1, subscriberGaps: 0, subscribersBehind: 0 });
  });
});
