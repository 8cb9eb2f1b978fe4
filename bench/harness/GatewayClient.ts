import { Decoder, Encoder } from '@msgpack/msgpack';
import WebSocket from 'ws';

/** A message from the gateway, as far as the benchmarks read it (docs/protocol.md). */
export type Msg = {
  op: string;
  id?: string;
  code?: string;
  message?: string;
  offset?: number;
  accepted?: number;
  notification?: Notification;
};

/** A live notification, as far as the benchmarks read it. */
export type Notification = { offset: number; eventIds: string[]; type?: string; tweetId?: string };

const encoder = new Encoder();
const decoder = new Decoder();

/**
 * A msgpack WebSocket client of the gateway, the one every benchmark uses (publishers and subscribers alike):
 * binary frames both ways, no compression, each message decoded before `onMessage` sees it.
 */
export class GatewayClient {
  private constructor(readonly ws: WebSocket) {}

  /** Opens a socket with `token` as its bearer; resolves once open, rejects on a refused upgrade. */
  static connect(url: string, token: string, onMessage: (m: Msg) => void): Promise<GatewayClient> {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => onMessage(decoder.decode(data) as Msg));
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new GatewayClient(ws)));
      ws.once('error', reject);
    });
  }

  /** Sends one message as a msgpack binary frame. */
  send(msg: object): void {
    this.ws.send(encoder.encode(msg), { binary: true });
  }
}
