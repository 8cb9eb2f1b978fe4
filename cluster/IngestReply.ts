import type { UserId } from '../core/Event';
import type { IngestResult } from '../core/nodeProtocol';
import { pack } from '../core/Codec';

/**
 * A notification as its msgpack bytes (as its timeline entry stores them) with its offset: what the gateway
 * needs to order it and frame it for a socket without decoding and encoding it again.
 */
export interface PackedNotification {
  offset: number;
  packed: Uint8Array;
}

/** A notification an ingest made, as a node answers it: for whom, and the batch item whose event made it. */
export interface PackedDelivery extends PackedNotification {
  user: UserId;
  item: number;
}

/** An ingest call's answer on the wire: each item's outcome (null = applied), and the notifications made. */
export interface IngestReply {
  errors: Array<string | null>;
  deliveries: PackedDelivery[];
}

/**
 * The node's side: each delivery carries the bytes its entry was written with (a repeat of an applied event,
 * read back from LevelDB, is packed here), instead of the notification for the gateway to decode and re-encode.
 */
export function ingestReplyOf(res: IngestResult): IngestReply {
  const deliveries: PackedDelivery[] = new Array(res.deliveries.length);
  for (let i = 0; i < deliveries.length; i++) {
    const d = res.deliveries[i];
    deliveries[i] = { user: d.user, offset: d.notification.offset, item: d.item ?? -1, packed: d.packed ?? pack(d.notification) };
  }
  return { errors: res.errors, deliveries };
}
