import { describe, expect, it } from 'vitest';
import { waitFor } from './waitFor';

// The tests' one polling helper: it must end as soon as the condition holds, and fail loudly when it never does.
describe('waitFor', () => {
  it('resolves with the first truthy value of the condition', async () => {
    let calls = 0;
    expect(await waitFor('the third call', () => (++calls >= 3 ? `call ${calls}` : undefined))).toBe('call 3');
  });

  it('resolves with the value read once accept holds for it', async () => {
    let n = 0;
    expect(
      await waitFor(
        'n at 4',
        async () => ++n,
        (v) => v === 4,
      ),
    ).toBe(4);
  });

  it('throws on timeout naming what it waited for and the last value seen', async () => {
    let n = 0;
    await expect(
      waitFor(
        'n above 1000',
        () => ++n,
        (v) => v > 1000,
        { timeoutMs: 50, everyMs: 5 },
      ),
    ).rejects.toThrow(/timed out after 50 ms waiting for n above 1000; last seen: \d+/);
  });

  it('counts a throwing read as not yet, and reports its error if it never succeeds', async () => {
    let calls = 0;
    const flaky = () => {
      if (++calls < 3) throw new Error('refused');
      return 'up';
    };
    expect(await waitFor('the endpoint up', flaky)).toBe('up');
    await expect(
      waitFor(
        'a dead endpoint',
        () => {
          throw new Error('connection refused');
        },
        40,
      ),
    ).rejects.toThrow('waiting for a dead endpoint; last seen: error connection refused');
  });
});
