import type { BodyType, Headers } from '../protocol/commands.js';

/** Default JMS priority. */
export const DEFAULT_PRIORITY = 4;

/**
 * A message inside the broker. Owned by exactly one queue (or one topic subscription's copy) at a time, so
 * delivery state (`deliveryCount`) lives on it directly.
 */
export interface BrokerMessage {
  /** Store sequence: unique, increasing; orders messages within a priority. 0 for messages never stored. */
  seq: number;
  id: string;
  /** Canonical destination, `queue://NAME` or `topic://NAME`. */
  dest: string;
  body: Uint8Array;
  bt: BodyType;
  persistent: boolean;
  priority: number;
  timestamp: number;
  /** Absolute expiry, ms since the epoch; 0: never. */
  expires: number;
  headers?: Headers | undefined;
  correlationId?: string | undefined;
  replyTo?: string | undefined;
  /** Deliveries so far (JMSXDeliveryCount of the last delivery). */
  deliveryCount: number;
  /** Arrival order at this broker (messages read back from the store use `seq`): redeliveries keep it. */
  ord?: number;
  /** The queue that holds (and stores) it, when not `dest`: a durable subscription's queue. */
  home?: string | undefined;
  /** Producer id and sequence, for the duplicate audit. */
  pid?: string | undefined;
  pseq?: number | undefined;
  /**
   * True when `id` is exactly `${pid}:${pseq}` (the broker made it from them): a delivery writes it from those
   * parts, without reading the concatenated id string (which would copy it into a flat one first).
   */
  pidId?: boolean;
  /**
   * Brokers the message passed through on its way here, first first (ActiveMQ's brokerPath); absent for a message
   * produced here. Stored with it: a network bridge never sends a message back along its path.
   */
  path?: readonly string[] | undefined;
}

/** Approximate memory held by a message: its body plus a fixed overhead for the object and its strings. */
export function messageSize(m: BrokerMessage): number {
  return m.body.byteLength + 200;
}

/** The queue a message is stored under. */
export function homeOf(m: BrokerMessage): string {
  return m.home ?? m.dest;
}

/** Where a message stood in arrival order. */
export function orderOf(m: BrokerMessage): number {
  return m.ord ?? m.seq;
}

/** A message as a protocol hands it to the broker. */
export interface SendInput {
  dest: string;
  body: Uint8Array;
  bt: BodyType;
  persistent: boolean;
  pid?: string | undefined;
  seq?: number | undefined;
  headers?: Headers | undefined;
  priority?: number | undefined;
  ttl?: number | undefined;
  correlationId?: string | undefined;
  replyTo?: string | undefined;
  /**
   * From a network bridge: the brokers the message passed through (this one not included), and the identity it
   * had at its origin, kept across hops.
   */
  path?: readonly string[] | undefined;
  id?: string | undefined;
  timestamp?: number | undefined;
  /** Absolute expiry (ms since the epoch), overriding `ttl`: a forwarded message keeps its original deadline. */
  expires?: number | undefined;
  /** It may have been delivered before (a bridge resending by another route): its first delivery is flagged redelivered. */
  redelivered?: boolean | undefined;
}
