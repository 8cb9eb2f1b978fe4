import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { HeraldError } from '../core/HeraldError';
import { FrameKind, FrameReader, HANDSHAKE_MAX_FRAME, encodeFrame, type Frame } from './LinkFrame';

export interface LinkOptions {
  /** The per-cluster link secret (the gateway makes one at start; nodes get it in NodeParams). Never logged. */
  secret: string;
  /** Largest frame sent or accepted; a peer that sends a larger one is disconnected (`linkMaxFrame`). */
  maxFrame: number;
  /** A connection that has not authenticated in this long is closed (HANDSHAKE_MS, or less for a call's deadline). */
  handshakeMs: number;
}

/** How long a new connection may take to authenticate. */
export const HANDSHAKE_MS = 5_000;

/** Answers the calls that arrive on a link (the node's dispatch), with the name the peer authenticated as. */
export type LinkHandler = (op: string, args: unknown, link: NodeLink) => Promise<unknown>;

/** HMAC-SHA256 of a nonce, bound to the role that proves (so a proof cannot be reflected back). */
function proof(secret: string, role: 'client' | 'server', nonce: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`herald-link ${role}\0`).update(nonce).digest();
}

function proves(secret: string, role: 'client' | 'server', nonce: Uint8Array, given: Uint8Array): boolean {
  const want = proof(secret, role, nonce);
  return given.length === want.length && timingSafeEqual(want, given);
}

/**
 * A call waiting for its answer. Settled once: it lets go of its callbacks and timer then, because V8 rehashes a
 * Map that has seen a few deletions by copying it, and the old copy, left in the old generation until the next
 * full GC, still points to the entries it held: the scavenger took them as live, and with them each call's promise,
 * its reply and the batch behind it (the gateway promoted a third of what it allocated per publish).
 */
class PendingCall {
  constructor(
    private resolveWith: ((v: unknown) => void) | undefined,
    private rejectWith: ((e: Error) => void) | undefined,
    private timer: NodeJS.Timeout | undefined,
  ) {}

  settle(error: Error | null, value?: unknown): void {
    const { resolveWith, rejectWith, timer } = this;
    this.resolveWith = this.rejectWith = this.timer = undefined;
    clearTimeout(timer);
    if (error) rejectWith?.(error);
    else resolveWith?.(value);
  }
}

/**
 * One authenticated, direct connection between the gateway and a node or between two nodes: calls with request
 * ids and deadlines, their replies (a result or a HeraldError's code and message), and one-way notices. Either
 * side may call the other. Replaces comedy's generic message path for the data (docs/architecture.md).
 */
export class NodeLink {
  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly closeListeners: Array<() => void> = [];
  closed = false;
  /** One-way frames from the peer (the gateway's side: a node's deliveries). */
  onNotice: (op: string, args: unknown) => void = () => undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly reader: FrameReader,
    /** The name the peer proved it holds the secret under ('gateway' or a node id). */
    readonly peer: string,
    private readonly maxFrame: number,
    private readonly handler: LinkHandler | undefined,
  ) {
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.reader.push(chunk);
      } catch {
        this.close(); // too large or malformed: nothing after it can be trusted
        return;
      }
      for (const f of frames) this.receive(f);
    });
    socket.on('close', () => this.close());
    socket.on('error', () => this.close());
  }

  /** Opens a link to a node's listener and authenticates both ways (the node proves it holds the secret too). */
  static async connect(host: string, port: number, name: string, opts: LinkOptions, handler?: LinkHandler, peer = `${host}:${port}`): Promise<NodeLink> {
    const socket = connect({ host, port, noDelay: true });
    const mine = randomBytes(32);
    const { reader, rest } = await handshake(socket, opts.handshakeMs, (frame, send) => {
      if (frame[0] === FrameKind.Challenge) {
        send([FrameKind.Answer, proof(opts.secret, 'client', frame[1]), name, mine]);
        return false;
      }
      if (frame[0] === FrameKind.Welcome && proves(opts.secret, 'server', mine, frame[1])) return true;
      throw new HeraldError('HERALD_UNAUTHORIZED', `link to ${host}:${port} failed authentication`);
    });
    reader.maxFrame = opts.maxFrame;
    const link = new NodeLink(socket, reader, peer, opts.maxFrame, handler);
    for (const f of rest) link.receive(f);
    return link;
  }

  /**
   * The listening side of the handshake: sends a nonce and closes the socket, before reading anything else, unless
   * the first frame answers it with the secret. Resolves with the link, or undefined when refused.
   */
  static async accept(socket: Socket, opts: LinkOptions, handler: LinkHandler): Promise<NodeLink | undefined> {
    socket.setNoDelay(true);
    const nonce = randomBytes(32);
    let peer = '';
    try {
      const { reader, rest } = await handshake(
        socket,
        opts.handshakeMs,
        (frame, send) => {
          if (frame[0] !== FrameKind.Answer || !proves(opts.secret, 'client', nonce, frame[1])) {
            throw new HeraldError('HERALD_UNAUTHORIZED', 'link peer failed authentication');
          }
          peer = frame[2];
          send([FrameKind.Welcome, proof(opts.secret, 'server', frame[3])]);
          return true;
        },
        [FrameKind.Challenge, nonce],
      );
      reader.maxFrame = opts.maxFrame;
      const link = new NodeLink(socket, reader, peer, opts.maxFrame, handler);
      for (const f of rest) link.receive(f);
      return link;
    } catch {
      return undefined;
    }
  }

  /** Calls `op` on the peer; rejects with HERALD_UNAVAILABLE when it does not answer within `timeoutMs`. */
  call<T>(op: string, args: unknown, timeoutMs: number): Promise<T> {
    if (this.closed) return Promise.reject(new HeraldError('HERALD_UNAVAILABLE', `link to ${this.peer} is closed`));
    const id = this.nextId++;
    let frame: Buffer;
    try {
      frame = encodeFrame([FrameKind.Call, id, op, args], this.maxFrame);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.get(id)?.settle(new HeraldError('HERALD_UNAVAILABLE', `${this.peer} did not answer ${op} in ${timeoutMs} ms`));
        this.pending.delete(id);
      }, timeoutMs);
      // The reply is taken as the caller's T: the op map of the caller (NodeRef, NodePeers) says what `op` answers.
      this.pending.set(id, new PendingCall(resolve as (v: unknown) => void, reject, timer));
      this.socket.write(frame);
    });
  }

  /** Sends a one-way frame; false when the link is closed (the caller picks another way). */
  notify(op: string, args: unknown): boolean {
    if (this.closed) return false;
    this.socket.write(encodeFrame([FrameKind.Notice, op, args], this.maxFrame));
    return true;
  }

  /** Called once when the link closes, for whatever reason (at once if it already has). */
  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    for (const [, p] of this.pending) p.settle(new HeraldError('HERALD_UNAVAILABLE', `link to ${this.peer} closed`));
    this.pending.clear();
    for (const l of this.closeListeners.splice(0)) l();
  }

  private receive(frame: Frame): void {
    if (this.closed) return;
    switch (frame[0]) {
      case FrameKind.Call:
        void this.answer(frame[1], frame[2], frame[3]);
        return;
      case FrameKind.Result:
      case FrameKind.Failure: {
        const p = this.pending.get(frame[1]);
        if (!p) return; // its deadline passed
        this.pending.delete(frame[1]);
        if (frame[0] === FrameKind.Result) p.settle(null, frame[2]);
        else p.settle(HeraldError.from(frame[2]));
        return;
      }
      case FrameKind.Notice:
        try {
          this.onNotice(frame[1], frame[2]);
        } catch {
          /* a notice has no reply; a bad one is dropped */
        }
        return;
      default:
        this.close(); // handshake frames after the handshake
    }
  }

  private async answer(id: number, op: string, args: unknown): Promise<void> {
    let reply: Frame;
    try {
      if (!this.handler) throw new HeraldError('HERALD_UNKNOWN_OP', `this side of the link answers no calls (${op})`);
      reply = [FrameKind.Result, id, await this.handler(op, args, this)];
    } catch (err) {
      reply = [FrameKind.Failure, id, HeraldError.from(err).toJSON()];
    }
    if (this.closed) return;
    let bytes: Buffer;
    try {
      bytes = encodeFrame(reply, this.maxFrame);
    } catch (err) {
      bytes = encodeFrame([FrameKind.Failure, id, HeraldError.from(err).toJSON()], this.maxFrame);
    }
    this.socket.write(bytes);
  }
}

/**
 * Runs a handshake on a fresh socket: frames are read under HANDSHAKE_MAX_FRAME and given to `step` until it
 * returns true. Any error, a close or the deadline destroys the socket and rejects.
 */
function handshake(
  socket: Socket,
  timeoutMs: number,
  step: (frame: Frame, send: (f: Frame) => void) => boolean,
  first?: Frame,
): Promise<{ reader: FrameReader; rest: Frame[] }> {
  const reader = new FrameReader(HANDSHAKE_MAX_FRAME);
  const send = (f: Frame) => socket.write(encodeFrame(f, HANDSHAKE_MAX_FRAME));
  return new Promise((resolve, reject) => {
    const fail = (err: unknown) => {
      cleanup();
      socket.destroy();
      reject(err instanceof HeraldError ? err : new HeraldError('HERALD_UNAVAILABLE', `link handshake failed: ${(err as Error)?.message ?? err}`));
    };
    const timer = setTimeout(() => fail(new HeraldError('HERALD_UNAVAILABLE', 'link handshake timed out')), timeoutMs);
    const onData = (chunk: Buffer) => {
      try {
        const frames = reader.push(chunk);
        for (let i = 0; i < frames.length; i++) {
          if (step(frames[i], send)) {
            cleanup();
            resolve({ reader, rest: frames.slice(i + 1) });
            return;
          }
        }
      } catch (err) {
        fail(err);
      }
    };
    const onClose = () => fail(new HeraldError('HERALD_UNAVAILABLE', 'link closed during the handshake'));
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', fail);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', fail);
    if (first) send(first);
  });
}
