/*
 * The replication connection: the client protocol's framing (4-byte length + msgpack, src/protocol) carrying the
 * store operations of src/store/store.ts's interface as they were called on the master, so a replica applies
 * them to its own store through the same interface and ends up with the same keys.
 */
import type { Socket } from 'node:net';
import type { BrokerMessage } from '../../model/message.js';
import { decodeBody, encodeFrame } from '../../protocol/codec.js';
import { FrameDecoder } from '../../protocol/frame.js';
import type { DurableRecord } from '../../store/store.js';

/** One store call, in the order the master made it. */
export type StoreOp =
  | ['a', BrokerMessage]
  | ['m', string, number]
  | ['r', number, string]
  | ['R', string, number, number]
  | ['d', DurableRecord]
  | ['D', string, string]
  | ['f', string];

/** A log position: the epoch (election) that wrote the entry, and its place in the log. */
export interface Position {
  epoch: number;
  pos: number;
}

export function comparePositions(a: Position, b: Position): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.pos - b.pos;
}

/** Frames, replica → master. */
export type ReplicaFrame =
  /** First frame: who it is, where its store stands, and whether that is exact (false after a crash). */
  | { t: 'hello'; id: string; broker: string; epoch: number; pos: number; exact: boolean }
  /** It holds everything up to `pos` (in memory or on disk, as `sync` says). */
  | { t: 'ack'; pos: number };

/** Frames, master → replica. */
export type MasterFrame =
  | { t: 'welcome'; epoch: number; mode: 'log' | 'snapshot' }
  /** Operations at positions p, p+1, …, written in epoch e. */
  | { t: 'ops'; e: number; p: number; ops: StoreOp[] }
  /** Snapshot: the master's whole store as of (e, p); `msgs` in chunks, then the rest with `end`. */
  | { t: 'snap'; msgs: BrokerMessage[] }
  | { t: 'snap-end'; e: number; p: number; durables: DurableRecord[]; producers: [string, number][]; marks: [string, number][] };

/** The fields of a message a store keeps (in-memory-only ones and absent ones left out: msgpack has no undefined). */
export function wireMessage(m: BrokerMessage): BrokerMessage {
  const out: Record<string, unknown> = {};
  for (const k of ['seq', 'id', 'dest', 'body', 'bt', 'persistent', 'priority', 'timestamp', 'expires', 'headers', 'correlationId', 'replyTo', 'deliveryCount', 'pid', 'pseq', 'home', 'path'] as const) {
    const v = m[k];
    if (v !== undefined && v !== null) out[k] = v;
  }
  return out as unknown as BrokerMessage;
}

/** A socket speaking frames: `send` encodes, `onFrame` gets decoded values; errors end the link. */
export class Link<In, Out extends object> {
  private readonly decoder = new FrameDecoder();
  private closed = false;
  onClose: (err?: Error) => void = () => {};

  constructor(
    readonly socket: Socket,
    onFrame: (frame: In) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, (body) => onFrame(decodeBody(body) as In));
      } catch (err) {
        this.close(err as Error);
      }
    });
    socket.on('error', (err) => this.close(err));
    socket.on('close', () => this.close());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(frame: Out): void {
    if (!this.closed) this.socket.write(encodeFrame(frame));
  }

  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onClose(err);
  }
}
