import { Writable } from 'node:stream';
import pino from 'pino';
import type { OutboundMessage, OutboundNotification } from '../../../../../actors/delivery/channels/Channel';
import type { Logger } from '../../../../../core/logger';

export const SECRET = 'whsec_0123456789abcdef0123456789abcdef';
export const TOKEN = 'fcm:dGhpcy1pcy1hLWxvbmctZGV2aWNlLXRva2VuLTEyMzQ1Njc4OTA';

let offset = 100;

/** A like notification for bob, as the timeline holds it. */
export function notification(extra: Partial<OutboundNotification> = {}): OutboundNotification {
  offset++;
  return {
    offset,
    type: 'like',
    actors: ['alice'],
    tweetId: 'tw42',
    text: 'Shipping herald today 🚀 — notifications for everyone',
    eventIds: [`ev${offset}`],
    ts: 1_700_000_000_000 + offset,
    ...extra,
  };
}

export function message(channel: OutboundMessage['channel'], extra: Partial<OutboundMessage> = {}): OutboundMessage {
  return { channel, user: 'bob', to: TOKEN, locale: 'en', notification: notification(), ...extra };
}

/** A pino logger at debug level whose lines are kept, to check what never gets logged. */
export function capturedLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}
