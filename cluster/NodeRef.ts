import { pack, unpack } from '../storage/Codec';
import { HeraldError } from '../storage/HeraldError';

/** The comedy actor reference, reduced to the one call we use. */
export interface ActorHandle {
  sendAndReceive(topic: string, ...message: unknown[]): Promise<unknown>;
}

/** What a node answers: a result, or a HERALD error (comedy would drop the code of a thrown error). */
export type Reply<T> = { r: T } | { e: { code: string; message: string } };

/**
 * Calls to one node actor. Payloads travel as base64 msgpack: ASCII-safe on every comedy path (its socket
 * framing mis-sizes non-ASCII JSON), and types survive. Every call has a deadline: comedy has none.
 */
export class NodeRef {
  constructor(
    readonly id: string,
    private readonly actor: ActorHandle,
    private readonly timeoutMs: number,
    /** PID of the node's process, for operators and fault tests (changes when comedy respawns it). */
    public pid = 0,
    /** Forked on this host (its PID can be signalled), not on a remote listener. */
    readonly local = true,
    /** The comedy topic (handler name) that receives the calls. */
    private readonly topic = 'call',
  ) {}

  async call<T>(op: string, args: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    const payload = Buffer.from(pack({ op, args })).toString('base64');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HeraldError('HERALD_UNAVAILABLE', `node ${this.id} did not answer ${op} in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const raw = await Promise.race([this.actor.sendAndReceive(this.topic, payload), deadline]);
      const reply = unpack<Reply<T>>(Buffer.from(raw as string, 'base64'));
      if ('e' in reply) throw HeraldError.from(reply.e);
      return reply.r;
    } catch (err) {
      if (err instanceof HeraldError) throw err;
      // comedy rejects with a plain Error while the node is down or respawning.
      throw new HeraldError('HERALD_UNAVAILABLE', `node ${this.id} is unavailable`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The answering side of NodeRef.call: decodes a payload, runs `handle(op, args)`, and encodes its result or
 * its HERALD error as the reply (both the nodes and the gateway's root actor answer this way).
 */
export async function answer(payload: string, handle: (op: string, args: any) => Promise<unknown>): Promise<string> {
  let reply: Reply<unknown>;
  try {
    const { op, args } = unpack<{ op: string; args: any }>(Buffer.from(payload, 'base64'));
    reply = { r: await handle(op, args) };
  } catch (err) {
    reply = { e: HeraldError.from(err).toJSON() };
  }
  return Buffer.from(pack(reply)).toString('base64');
}
