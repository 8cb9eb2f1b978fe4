import { describe, expect, it } from 'vitest';
import { mergeSettings } from '../../../../actors/delivery/Settings';
import type { Settings } from '../../../../core/OutboundDelivery';

const current: Settings = {
  tz: 'Europe/Paris',
  devices: { push: ['tok-a', 'tok-b'], sms: '+33612345678', email: 'ana@example.com' },
  channels: { follow: { push: false, email: true }, like: { push: true } },
  quietHours: { start: '22:00', end: '07:30' },
};

describe('mergeSettings (JSON Merge Patch, RFC 7396)', () => {
  it('null removes a part; an absent member is unchanged', () => {
    expect(mergeSettings(current, { quietHours: null, devices: { sms: null, email: null }, channels: { like: null, follow: { email: null } } })).toEqual({
      tz: 'Europe/Paris',
      devices: { push: ['tok-a', 'tok-b'] },
      channels: { follow: { push: false } },
    });
  });

  it('replaces a device list whole, sets new parts, and leaves the current settings untouched', () => {
    const before = structuredClone(current);
    expect(mergeSettings(current, { devices: { push: ['tok-c'] }, locale: 'fr', tz: null })).toEqual({
      locale: 'fr',
      devices: { push: ['tok-c'], sms: '+33612345678', email: 'ana@example.com' },
      channels: current.channels,
      quietHours: current.quietHours,
    });
    expect(current).toEqual(before);
    expect(mergeSettings(current, { devices: null }).devices).toBeUndefined();
  });
});
