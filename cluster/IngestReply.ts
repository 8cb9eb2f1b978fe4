import type { IngestReply, IngestResult, PackedDelivery } from '../core/nodeProtocol';
import { pack } from '../core/Codec';

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
