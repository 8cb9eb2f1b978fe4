import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { pack, unpack } from '../../../core/Codec';
import { clientSchemas, httpPublishSchema, validator } from '../../../gateway/Schema';
import { decodeFrame } from '../../../gateway/WireCodec';

const schemas = clientSchemas(100);
const checkPublish = validator(schemas.publish);
const checkHttp = validator(httpPublishSchema(100));
const tweet = { id: 't1', author: 'bob', text: undefined, entities: undefined, mentions: undefined };

describe('nil as absent (msgpack encodes undefined as nil)', () => {
  it('accepts a msgpack frame whose optional event fields are nil, as JSON accepts them left out', () => {
    const msg = { op: 'publish', id: 'p1', events: [{ id: 'e1', type: 'like', actor: 'alice', target: undefined, tweet, ts: undefined }] };
    // What a client on @msgpack/msgpack sends: its default encoder writes undefined as nil.
    const binary = decodeFrame(Buffer.from(encode(msg)), true).msg;
    const text = decodeFrame(Buffer.from(JSON.stringify(msg)), false).msg;
    expect(checkPublish(binary)).toEqual(checkPublish(text));
    expect(checkPublish(binary).events[0]).toEqual({ id: 'e1', type: 'like', actor: 'alice', tweet: { id: 't1', author: 'bob' } });
  });

  it('takes null as absent in an HTTP body and a request, and still refuses null for a required field', () => {
    const body = unpack(pack({ events: [{ id: 'e1', type: 'follow', actor: 'alice', target: 'bob', tweet: null }] }));
    expect(checkHttp(body).events[0]).toEqual({ id: 'e1', type: 'follow', actor: 'alice', target: 'bob' });
    expect(validator(schemas.subscribe)({ op: 'subscribe', since: null, epoch: null })).toEqual({ op: 'subscribe' });
    expect(() => checkPublish({ op: 'publish', id: 'p1', events: [{ id: null, type: 'follow', actor: 'alice', target: 'bob' }] })).toThrow(
      expect.objectContaining({ code: 'HERALD_INVALID_MESSAGE' }),
    );
  });
});
