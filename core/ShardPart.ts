/**
 * A shard on its way between two nodes during a live move (actors/node/ShardHandoff.ts): the parts the old owner
 * reads and the new owner writes, as the `exportShard`, `exportDelta` and `pullShard` node ops answer them.
 */

/** A part of a shard as a frame (storage/ShardFrame), with its key count and bytes (keys + values). */
export interface ShardPart {
  frame: Uint8Array;
  keys: number;
  bytes: number;
}

/** A part of a shard's snapshot as a handoff sends it; `done` once the snapshot is exhausted. */
export interface ExportedPart extends ShardPart {
  done: boolean;
  /** The old owner's fanout candidate index is complete, so the part carries every entry of its profiles. */
  indexed?: boolean;
}

/** The keys written since the snapshot, read with the shard frozen: a handoff's last part. */
export interface DeltaPart extends ShardPart {
  indexed: boolean;
}

/** What the new owner answers for a part it pulled and wrote: its size (the frame stayed between the nodes). */
export type PulledPart = Omit<ExportedPart, 'frame'>;
