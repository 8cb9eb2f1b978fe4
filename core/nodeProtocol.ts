import type { HeraldEvent, Notification, UserId } from './Event';

/**
 * The contract between the gateway and the nodes, and between nodes: what each node op takes and answers.
 */

/** One event and the users on this node that it touches. */
export interface IngestItem {
  event: HeraldEvent;
  users: UserId[];
}

export interface IngestBatch {
  /** Shard-table epoch the router used; work routed with another epoch is refused (fencing). */
  epoch: number;
  items: IngestItem[];
  /** `items` as msgpack, as the gateway packed them: logged as they are when every item is accepted. */
  packed?: Uint8Array;
}

export interface Delivery {
  user: UserId;
  notification: Notification;
  /** Of an ingest: the index of the batch item whose event made it, and the notification's stored msgpack bytes. */
  item?: number;
  packed?: Uint8Array;
}

/**
 * Calls to the other nodes of the cluster, straight to them (NodeHost gives its links; a lone NodeActor, as in
 * unit tests and benchmarks, has none). Any node op; e.g. a new owner can pull a moving shard from the old one.
 */
export interface Peers {
  call<T>(node: string, op: string, args: unknown, timeoutMs?: number): Promise<T>;
}

export interface IngestResult {
  /** Per item: null when applied (or already applied), else the error code. */
  errors: Array<string | null>;
  deliveries: Delivery[];
}

