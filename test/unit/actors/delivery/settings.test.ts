import { describe, expect, it } from 'vitest';
import { addressesOf, deferUntil, takePushSlot, wants } from '../../../../actors/delivery/Settings';
import { DEFAULT_CONFIG } from '../../../../core/config';

const DEFAULT_PUSH_CAP = DEFAULT_CONFIG.pushCap;

describe('Settings', () => {
  it('defaults: push for follow/mention/reply/tweet, not likes; sms and email only when asked', () => {
    expect(wants({}, 'follow', 'push')).toBe(true);
    expect(wants({}, 'like', 'push')).toBe(false);
    expect(wants({}, 'mention', 'email')).toBe(false);
    expect(wants({ channels: { like: { push: true } } }, 'like', 'push')).toBe(true);
    expect(wants({ channels: { follow: { push: false } } }, 'follow', 'push')).toBe(false);
    expect(addressesOf({ devices: { push: ['a', 'b'], email: 'x@y.z' } }, 'push')).toEqual(['a', 'b']);
    expect(addressesOf({ devices: {} }, 'sms')).toEqual([]);
  });

  it("defers to the end of quiet hours in the user's time zone, across midnight", () => {
    const at = Date.UTC(2026, 0, 15, 22, 30); // 22:30 UTC = 23:30 in Paris (winter)
    const quiet = { start: '23:00', end: '07:00' };
    expect(deferUntil({ tz: 'Europe/Paris', quietHours: quiet }, at)).toBe(Date.UTC(2026, 0, 16, 6, 0)); // 07:00 Paris
    expect(deferUntil({ tz: 'UTC', quietHours: quiet }, at)).toBe(at); // 22:30 UTC is before 23:00
    expect(deferUntil({ tz: 'UTC', quietHours: { start: '22:00', end: '22:45:30' } }, at)).toBe(at + 15 * 60_000 + 30_000);
    expect(deferUntil({}, at)).toBe(at);
  });

  it('push fatigue: at most 5 in 24 h, at least 30 min apart; a slot taken once cannot be taken again', () => {
    const t0 = Date.UTC(2026, 0, 1);
    let slots: number[] = [];
    for (let i = 0; i < 5; i++) {
      const next = takePushSlot(slots, t0 + i * 31 * 60_000, DEFAULT_PUSH_CAP);
      expect(next).toBeDefined();
      slots = next!;
    }
    expect(takePushSlot(slots, t0 + 5 * 31 * 60_000, DEFAULT_PUSH_CAP)).toBeUndefined(); // the 6th
    expect(takePushSlot(slots.slice(0, 1), t0 + 10 * 60_000, DEFAULT_PUSH_CAP)).toBeUndefined(); // too soon
    expect(takePushSlot(slots, t0 + 25 * 3600_000, DEFAULT_PUSH_CAP)).toBeDefined(); // the window moved on
  });
});
