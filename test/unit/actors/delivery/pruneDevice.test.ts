import { describe, expect, it } from 'vitest';
import { pruneDevice } from '../../../../actors/delivery/Settings';

describe('pruneDevice (a push token the provider says is gone)', () => {
  it('removes the token, keeps the others, and records its masked form and when', () => {
    const at = 1_700_000_000_000;
    const next = pruneDevice(
      { locale: 'fr', devices: { push: ['tok-dead-0001', 'tok-live-0002'], sms: '+33612345678' } },
      'tok-dead-0001',
      at,
      'HERALD_PROVIDER_REJECTED 410',
    );
    expect(next).toEqual({
      locale: 'fr',
      devices: { push: ['tok-live-0002'], sms: '+33612345678' },
      pruned: [{ to: '***0001', channel: 'push', at, reason: 'HERALD_PROVIDER_REJECTED 410' }],
    });
  });

  it('changes nothing for a token no longer in the settings (a settings update came first)', () => {
    expect(pruneDevice({ devices: { push: ['tok-other-0003'] } }, 'tok-dead-0001', 1, 'gone')).toBeUndefined();
  });

  it('keeps only the last few pruned records', () => {
    let s = { devices: { push: Array.from({ length: 10 }, (_, i) => `tok-${i}-000${i}`) } } as Parameters<typeof pruneDevice>[0];
    for (let i = 0; i < 10; i++) s = pruneDevice(s, `tok-${i}-000${i}`, i, 'gone')!;
    expect(s.devices?.push).toEqual([]);
    expect(s.pruned?.map((p) => p.at)).toEqual([5, 6, 7, 8, 9]);
  });
});
