import type { HeraldEvent, Notification, UserId } from './Event';
import type { FanoutBatch, FanoutExplanation, FanoutTally, ProfileData } from './Fanout';
import type { LinkAddress } from './LinkAddress';
import type { NodeStatsReply } from './NodeStats';
import type { DeadLetter, Settings, SettingsPatch } from './OutboundDelivery';
import type { PresenceUpdate } from './PresenceUpdate';
import type { DeltaPart, ExportedPart, PulledPart } from './ShardPart';

/**
 * The contract between the gateway and the nodes, and between nodes: every op a node answers, with what it takes
 * and what it answers (NodeOps; BenchOps for the benchmarks' own), and the notices a node sends the gateway
 * (GatewayNotices). NodeRef, NodePeers, the actors' Peers and the node's dispatch (cluster/NodeHost.ts) are typed
 * against these maps, so a caller cannot name an op that does not exist or send it the wrong arguments.
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

/** The `ingest` op's arguments: the items packed once by the gateway (msgpack bin), or as a plain array. */
export interface IngestCall {
  epoch: number;
  items: Uint8Array | IngestItem[];
}

export interface Delivery {
  user: UserId;
  notification: Notification;
  /** Of an ingest: the index of the batch item whose event made it, and the notification's stored msgpack bytes. */
  item?: number;
  packed?: Uint8Array;
}

export interface IngestResult {
  /** Per item: null when applied (or already applied), else the error code. */
  errors: Array<string | null>;
  deliveries: Delivery[];
}

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

/** The `ingest` op's reply: each item's outcome (null = applied), and the notifications made (cluster/IngestReply.ts). */
export interface IngestReply {
  errors: Array<string | null>;
  deliveries: PackedDelivery[];
}

/** A user's counters, answered with every timeline read. */
export interface TimelineState {
  offset: number;
  unread: number;
  read: number;
}

/** A newest-first page of a user's timeline; `next` is the `before` of the next page. */
export interface TimelinePage extends TimelineState {
  items: Notification[];
  next?: number;
}

/** A subscribe's first read carries the gateway's presence mark (a rising seq): the owner marks the user present. */
export interface SinceCall {
  user: UserId;
  since: number;
  limit: number;
  presence?: number;
}

/** Entries above `since`, oldest first, with the counters and what a resume needs (the timeline's epoch, its first offset). */
export interface SinceReply extends TimelineState {
  items: Notification[];
  epoch: string;
  first: number;
}

/** The shard table as a node keeps it: the epoch, the shards it owns, every shard's owner. */
export interface TableCall {
  epoch: number;
  shards: number[];
  owners: readonly string[];
}

export interface ShardCall {
  shard: number;
}

/** A part written by the new owner; `last` makes everything written durable, `indexed` as the part says. */
export interface ImportCall extends ShardCall {
  frame: Uint8Array;
  last?: boolean;
  indexed?: boolean;
}

/** The new owner pulls the next part from the old owner `from`: a part of the snapshot, or the delta (the last). */
export type PullCall = (ShardCall & { from: string; limit: number; delta?: false }) | (ShardCall & { from: string; delta: true });

/** Every node's link address, versioned: a node keeps the newest announcement it got. */
export interface PeersCall {
  version: number;
  peers: Record<string, LinkAddress>;
}

/** What a node's `ping` answers: its process and where its link listener is. */
export interface Ping {
  pid: number;
  link?: LinkAddress;
}

/** An op's arguments and reply. */
export interface OpShape {
  args: unknown;
  reply: unknown;
}

/** Every op a node answers. */
export interface NodeOps {
  /** Events for this node's users (NodeChannel); answered once every effect is fsynced. */
  ingest: { args: IngestCall; reply: IngestReply };
  timeline: { args: { user: UserId; before?: number; limit: number }; reply: TimelinePage };
  since: { args: SinceCall; reply: SinceReply };
  /** The gateway's report of its users' live subscriptions (validated: it comes from another process). */
  presence: { args: PresenceUpdate; reply: { present: number } };
  read: { args: { user: UserId; upTo: number }; reply: TimelineState };
  setTable: { args: TableCall; reply: null };
  beginHandoff: { args: ShardCall; reply: void };
  freezeShard: { args: ShardCall; reply: void };
  unfreezeShard: { args: ShardCall; reply: void };
  exportShard: { args: ShardCall & { limit: number }; reply: ExportedPart };
  exportDelta: { args: ShardCall; reply: DeltaPart };
  importShard: { args: ImportCall; reply: number };
  /** Whether this node reaches `node` over a direct link. */
  reachPeer: { args: { node: string }; reply: boolean };
  pullShard: { args: PullCall; reply: PulledPart };
  /** `keysPerS`: deletions per second at most (0 or absent: unpaced). */
  dropShard: { args: ShardCall & { keysPerS?: number }; reply: void };
  strayShards: { args: null; reply: number[] };
  /** Approximate bytes on disk per owned shard. */
  shardSizes: { args: null; reply: Record<number, number> };
  setPeers: { args: PeersCall; reply: null };
  /** From an author's node (validated: it comes from another process). */
  fanoutBatch: { args: FanoutBatch; reply: FanoutTally };
  /** A user's settings, after applying `patch` (JSON Merge Patch: null removes a part) if given. */
  settings: { args: { user: UserId; patch?: SettingsPatch }; reply: Settings };
  deadLetters: { args: { limit: number }; reply: DeadLetter[] };
  /** Replays the dead letters with these ids (all when absent); answers how many. */
  replayDeadLetters: { args: { ids?: string[] }; reply: number };
  explain: { args: { user: UserId; tweet: string }; reply: FanoutExplanation };
  stats: { args: null; reply: NodeStatsReply };
  ping: { args: null; reply: Ping };
}

/**
 * Ops only a node created for a benchmark answers (NodeHost's `benchOps` parameter); any other node answers
 * HERALD_UNKNOWN_OP. Nothing in herald calls them.
 */
export interface BenchOps {
  /** One follower's interest profile data per request (bench/fanout.ts's baseline: fanout without co-location). */
  profileOf: { args: { user: UserId }; reply: ProfileData };
  /** Answers its arguments (bench/transport.ts times the call path alone). */
  echo: { args: unknown; reply: unknown };
}

/** What answers an op map: one handler per op, given the op's arguments and who called ('gateway' or a node id). */
export type OpHandlers<Ops extends { [K in keyof Ops]: OpShape }> = {
  [K in keyof Ops]: (args: Ops[K]['args'], from: string) => Ops[K]['reply'] | Promise<Ops[K]['reply']>;
};

/**
 * Calls to the other nodes of the cluster, straight to them (NodeHost gives its links; a lone NodeActor, as in
 * unit tests and benchmarks, has none). Any node op; e.g. a new owner can pull a moving shard from the old one.
 */
export interface Peers {
  call<K extends keyof NodeOps>(node: string, op: K, args: NodeOps[K]['args'], timeoutMs?: number): Promise<NodeOps[K]['reply']>;
}

/** One-way notices a node sends the gateway (NodeLink.notify on its link). */
export interface GatewayNotices {
  deliver: DeliverNotice;
}

/** Notifications a node made on its own (fanout batches it decided) for the gateway's live sockets. */
export interface DeliverNotice {
  deliveries: Delivery[];
  /** The batch's tally, and the author's node that sent it (the gateway's relayed-fanout metrics). */
  fanout?: FanoutTally & { from: string };
}

/**
 * A notice on its way through comedy, before the node's link to the gateway is up: the payload of a `relay` call
 * to the gateway's root actor (cluster/ActorRuntime.ts), naming the node (a link knows its peer). Answered null.
 */
export type RelayCall = { [K in keyof GatewayNotices]: { op: K; args: GatewayNotices[K] & { node: string } } }[keyof GatewayNotices];
