import { BodyType, type BrowsedMessage as BrowsedWire, type Headers, type MessageCmd } from '../protocol/commands.js';
import { packValue, unpackValue } from '../protocol/codec.js';

/** What a message body may be: text, bytes, or any msgpack-able value. */
export type Body = string | Uint8Array | unknown;

/** Encode a body for the wire, remembering its kind so the receiver gets the same kind back. */
export function encodeBody(body: Body): { bytes: Uint8Array; bt: BodyType } {
  if (typeof body === 'string') return { bytes: Buffer.from(body, 'utf8'), bt: BodyType.Text };
  if (body instanceof Uint8Array) return { bytes: body, bt: BodyType.Bytes };
  return { bytes: packValue(body), bt: BodyType.Value };
}

/** A body as its sender gave it: text as a string, a msgpack value decoded, bytes as a Buffer. */
export function decodeBody(b: Uint8Array, bt: BodyType): unknown {
  if (bt === BodyType.Text) return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
  if (bt === BodyType.Value) return unpackValue(b);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A message seen by {@link Connection.browse}: a received message's fields, without ack or nack. */
export interface BrowsedMessage {
  readonly id: string;
  readonly destination: string;
  /** The body as sent: a string, a Buffer, or the decoded value. */
  readonly body: unknown;
  /** The body exactly as it crossed the wire. */
  readonly bytes: Uint8Array;
  readonly bodyType: BodyType;
  readonly headers: Headers;
  readonly priority: number;
  readonly persistent: boolean;
  readonly timestamp: number;
  /** Absolute expiry, ms since the epoch; 0: never. */
  readonly expires: number;
  readonly deliveryCount: number;
  readonly redelivered: boolean;
}

/** A BROWSE answer's entry as the application sees it (bodies come back as the kind that was sent). */
export function browsedMessage(w: BrowsedWire): BrowsedMessage {
  return {
    id: w.id,
    destination: w.dest,
    // Decoded on first access, as Message does: a body that does not decode fails only its reader.
    get body(): unknown {
      return decodeBody(w.body, w.bt);
    },
    bytes: w.body,
    bodyType: w.bt,
    headers: w.headers ?? {},
    priority: w.priority,
    persistent: w.persistent,
    timestamp: w.timestamp,
    expires: w.expires,
    deliveryCount: w.deliveryCount,
    redelivered: w.deliveryCount > 1,
  };
}

/** Internal: what a subscription does when the application acks or nacks. */
export interface AckTarget {
  ackMessage(m: Message): void;
  nackMessage(m: Message): void;
}

/** A received message. The body is decoded on first access. */
export class Message {
  readonly id: string;
  readonly destination: string;
  /** The body exactly as it crossed the wire. */
  readonly bytes: Uint8Array;
  readonly bodyType: BodyType;
  readonly headers: Headers;
  readonly redelivered: boolean;
  readonly deliveryCount: number;
  readonly timestamp: number;
  readonly priority: number;
  readonly persistent: boolean;
  /** Absolute expiry, ms since the epoch; 0: never. */
  readonly expires: number;
  readonly correlationId: string | undefined;
  readonly replyTo: string | undefined;
  /** @internal brokers the message passed through (network bridges read it). */
  readonly path: readonly string[] | undefined;
  /** @internal delivery tag and the connection epoch it belongs to. */
  readonly tag: number;
  /** @internal */
  readonly epoch: number;
  /** @internal the subscription it arrived on. */
  readonly sid: number;
  private decoded: { v: unknown } | null = null;

  constructor(
    cmd: MessageCmd,
    epoch: number,
    private readonly target: AckTarget,
  ) {
    this.id = cmd.id;
    this.destination = cmd.dest;
    this.bytes = cmd.body;
    this.bodyType = cmd.bt;
    this.headers = cmd.headers ?? {};
    this.redelivered = cmd.redelivered;
    this.deliveryCount = cmd.deliveryCount;
    this.timestamp = cmd.timestamp;
    this.priority = cmd.priority;
    this.persistent = cmd.persistent;
    this.expires = cmd.expires;
    this.correlationId = cmd.correlationId;
    this.replyTo = cmd.replyTo;
    this.path = cmd.path;
    this.tag = cmd.tag;
    this.epoch = epoch;
    this.sid = cmd.sid;
  }

  /** The body as sent: a string, a Buffer, or the decoded value. */
  get body(): unknown {
    if (this.decoded === null) this.decoded = { v: decodeBody(this.bytes, this.bodyType) };
    return this.decoded.v;
  }

  /** The body as text (bytes decoded as UTF-8). */
  get text(): string {
    const b = this.bytes;
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
  }

  /**
   * Acknowledge. In `client` mode this acknowledges every message received before it on the subscription too
   * (JMS CLIENT_ACKNOWLEDGE); in `individual` mode only this one; in `auto` mode it does nothing.
   */
  ack(): void {
    this.target.ackMessage(this);
  }

  /** Give the message back for redelivery (after maximumRedeliveries it goes to the dead-letter queue). */
  nack(): void {
    this.target.nackMessage(this);
  }
}
