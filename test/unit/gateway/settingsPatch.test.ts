import { decode, encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { clientSchemas, settingsPatchValidator, validator } from '../../../gateway/Schema';

const checkSettingsOp = validator(clientSchemas(100).settings);

describe('settings update schema (JSON Merge Patch)', () => {
  it('keeps null inside a settings update (a merge patch), and reads a null settings as a plain read', () => {
    const patch = { quietHours: null, devices: { sms: null, email: 'a@b.co' }, channels: { like: null } };
    expect(checkSettingsOp(decode(encode({ op: 'settings', id: 's1', settings: patch })))).toEqual({ op: 'settings', id: 's1', settings: patch });
    expect(checkSettingsOp({ op: 'settings', id: 's1', settings: null })).toEqual({ op: 'settings', id: 's1' });
    expect(settingsPatchValidator()({ tz: null, locale: null, devices: null })).toEqual({ tz: null, locale: null, devices: null });
  });

  it('still refuses a wrong value for a part', () => {
    expect(() => settingsPatchValidator()({ quietHours: { start: '25:00', end: '07:00' } })).toThrow(
      expect.objectContaining({ code: 'HERALD_INVALID_MESSAGE' }),
    );
  });
});
