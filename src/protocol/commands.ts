/**
 * The typed command set of ferrymq's native protocol (docs/PROTOCOL.md). Every frame body is one msgpack map
 * with a string field `t` naming the command. Broker-side validation lives in validate.ts.
 */

/** Native protocol versions this build speaks; CONNECT lists the client's, CONNECTED names the one chosen. */
export const PROTOCOL_VERSIONS: readonly number[] = [1];

export type AckMode = 'auto' | 'client' | 'individual';
export const ACK_MODES: readonly AckMode[] = ['auto', 'client', 'individual'];

/** How a message body was produced, so the receiver can give back the same kind of value. */
export const enum BodyType {
  Bytes = 0,
  Text = 1,
  /** Any other value, msgpack-encoded by the sending client. The broker never decodes it. */
  Value = 2,
}

export type HeaderValue = string | number | boolean | null;
export type Headers = Record<string, HeaderValue>;

// ---- client -> broker ------------------------------------------------------------------------------------------

export interface ConnectCmd {
  t: 'CONNECT';
  /** Protocol versions the client speaks. */
  v: number[];
  clientId?: string;
  user?: string;
  password?: string;
  /** Inactivity duration the client asks for, ms; 0 disables. The smaller non-zero side wins. */
  heartbeat?: number;
}

export interface SendCmd {
  t: 'SEND';
  dest: string;
  body: Uint8Array;
  bt?: BodyType;
  persistent?: boolean;
  /** Producer id and sequence: the broker stores a (pid, seq) pair once, even when it is sent again. */
  pid?: string;
  seq?: number;
  /** Ask for a RECEIPT; for a persistent message it comes once the message is on disk. */
  rid?: number;
  headers?: Headers;
  priority?: number;
  /** Time to live, ms; 0 or absent: never expires. */
  ttl?: number;
  correlationId?: string;
  replyTo?: string;
  tx?: string;
  /**
   * Set by network bridges (PROTOCOL.md §SEND): the brokers the message already passed through, and the id,
   * timestamp and absolute expiry it had at its origin.
   */
  path?: string[];
  mid?: string;
  ts?: number;
  exp?: number;
  /** It may have been delivered before (a bridge's resend by another route): delivered flagged redelivered. */
  rd?: boolean;
}

export interface SubscribeCmd {
  t: 'SUBSCRIBE';
  rid?: number;
  /** Client-chosen subscription id, unique on the connection. */
  sid: number;
  dest: string;
  ack?: AckMode;
  prefetch?: number;
  selector?: string;
  durable?: string;
  /** ActiveMQ's consumer.priority. */
  priority?: number;
  /**
   * A duplex network bridge pulling for its broker (§8): `peer` is that broker's name (nothing that came through it
   * is delivered), `path` the demand's path, `ttl` its networkTTL.
   */
  network?: { peer: string; path: string[]; ttl: number };
}

export interface UnsubscribeCmd {
  t: 'UNSUBSCRIBE';
  rid?: number;
  /** A subscription of this connection... */
  sid?: number;
  /** ...or a durable subscription of this client id, removed with its stored backlog. */
  durable?: string;
}

export interface AckCmd {
  t: 'ACK';
  rid?: number;
  sid: number;
  /** Delivery tag of the message acked. */
  tag: number;
  /** Ack every delivery on the subscription up to and including `tag` (client ack mode, batched auto acks). */
  upto?: boolean;
  tx?: string;
}

export interface NackCmd {
  t: 'NACK';
  rid?: number;
  sid: number;
  tag: number;
  tx?: string;
}

export interface TxCmd {
  t: 'BEGIN' | 'COMMIT' | 'ABORT';
  rid?: number;
  tx: string;
}

export interface DisconnectCmd {
  t: 'DISCONNECT';
  rid?: number;
}

export interface PingCmd {
  t: 'PING';
}

/** Administrative request: statistics of every destination. */
export interface StatsCmd {
  t: 'STATS';
  rid: number;
}

/** Administrative request: who the broker is and its master/slave role (dstat's header, the console). */
export interface InfoCmd {
  t: 'INFO';
  rid: number;
}

/** Administrative request: a non-destructive look at up to `max` messages of a queue. */
export interface BrowseCmd {
  t: 'BROWSE';
  rid: number;
  dest: string;
  max?: number;
}

/** Administrative request: drop every message of a queue that is not in flight to a consumer. */
export interface PurgeCmd {
  t: 'PURGE';
  rid: number;
  dest: string;
}

/** Administrative request: remove a queue with its messages, or a topic without subscribers. */
export interface DeleteCmd {
  t: 'DELETE';
  rid: number;
  dest: string;
}

export type ClientCommand =
  | ConnectCmd
  | SendCmd
  | SubscribeCmd
  | UnsubscribeCmd
  | AckCmd
  | NackCmd
  | TxCmd
  | DisconnectCmd
  | PingCmd
  | StatsCmd
  | InfoCmd
  | BrowseCmd
  | PurgeCmd
  | DeleteCmd;

// ---- broker -> client ------------------------------------------------------------------------------------------

export interface ConnectedCmd {
  t: 'CONNECTED';
  v: number;
  broker: string;
  version: string;
  maxFrameSize: number;
  /** Negotiated inactivity duration, ms; 0: none. */
  heartbeat: number;
  /** Broker-assigned connection id. */
  session: string;
}

export interface MessageCmd {
  t: 'MESSAGE';
  sid: number;
  tag: number;
  id: string;
  dest: string;
  body: Uint8Array;
  bt: BodyType;
  persistent: boolean;
  priority: number;
  timestamp: number;
  /** Absolute expiry time, ms since the epoch; 0: never. */
  expires: number;
  deliveryCount: number;
  redelivered: boolean;
  headers?: Headers;
  correlationId?: string;
  replyTo?: string;
  /** The brokers it passed through, when it came over a network bridge (§8). */
  path?: string[];
}

export interface ReceiptCmd {
  t: 'RECEIPT';
  rid: number;
  data?: unknown;
}

export interface ErrorCmd {
  t: 'ERROR';
  rid?: number;
  code: string;
  message: string;
  /** The broker closes the connection after a fatal error. */
  fatal?: boolean;
}

export interface PongCmd {
  t: 'PONG';
}

/** Producer flow control: the broker holds this connection's sends (memory limit reached), or releases them. */
export interface FlowCmd {
  t: 'FLOW';
  blocked: boolean;
}

export type BrokerCommand = ConnectedCmd | MessageCmd | ReceiptCmd | ErrorCmd | PongCmd | PingCmd | FlowCmd;

/**
 * A node's part in shared-store master/slave: 'master' holds its store's lock, 'slave' waits for it (and, having
 * no listener, is never seen over the wire), 'standalone' has no lockable store (non-persistent).
 */
export type NodeRole = 'master' | 'slave' | 'standalone';

/** What INFO returns. */
export interface BrokerInfo {
  name: string;
  /** Random per broker process. */
  id: string;
  version: string;
  role: NodeRole;
  /** ms since the broker started serving. */
  uptimeMs: number;
  connections: number;
  /** master: the store directory whose lock it holds. */
  directory?: string;
  /** master: 1 for the store's first master, one more per takeover. */
  epoch?: number;
  /** master: when it took the lock, ms since the epoch. */
  masterSince?: number;
  /** master of a replicated store: the quorum, its ZooKeeper session, and each replica's lag in log positions. */
  replication?: ReplicationInfo;
}

/** A replicated store's master, as INFO reports it. */
export interface ReplicationInfo {
  /** Nodes that must hold a write (the master included). */
  quorum: number;
  /** Nodes in the group (`replicas`). */
  nodes: number;
  zkSession: string;
  /** 'sync' while catching up (not counted toward the quorum), then 'live'. */
  replicas: { broker: string; state: 'sync' | 'live'; lag: number }[];
}

/** One destination's counters, as STATS returns them (ActiveMQ's dstat columns). */
export interface DestinationStats {
  name: string;
  kind: 'queue' | 'topic';
  queueSize: number;
  inflight: number;
  producerCount: number;
  consumerCount: number;
  enqueueCount: number;
  dequeueCount: number;
  /** Sent on to other brokers by network bridges. */
  forwardCount?: number;
  memoryBytes: number;
}

/** A message as BROWSE returns it. */
export interface BrowsedMessage {
  id: string;
  dest: string;
  body: Uint8Array;
  bt: BodyType;
  persistent: boolean;
  priority: number;
  timestamp: number;
  expires: number;
  deliveryCount: number;
  headers?: Headers;
}
