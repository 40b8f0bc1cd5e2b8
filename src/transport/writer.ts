import type { Socket } from 'node:net';
import { Packr } from 'msgpackr';
import type { SendCmd } from '../protocol/commands.js';
import { FRAME_HEADER_BYTES } from '../protocol/frame.js';
import { encodeMessage, encodeSend, type MessageFields, messageBound, sendBound } from '../protocol/hot-encode.js';
import { RECEIPT_HEAD } from '../protocol/hot-receipt.js';

const packr = new Packr({ useRecords: false, structuredClone: false, variableMapSize: true });

/** Encode a command's body (no length prefix). */
export function packCommand(cmd: object): Buffer {
  return packr.pack(cmd);
}


/** Bytes waiting to go out on a connection past which deliveries to it pause (its consumer is not reading). */
export const CONGESTED_BYTES = 4 * 1024 * 1024;

/** Flush at once when this many bytes are waiting, instead of at the end of the tick. */
const FLUSH_BYTES = 256 * 1024;

/** Size of the buffers frames are written into (a larger frame gets a buffer of its own size). */
const CHUNK_BYTES = 256 * 1024;

/**
 * Coalesces outbound frames: every frame is encoded straight into one growing chunk of memory, and what was written
 * during one tick of the event loop leaves in a single socket write (a message body is copied once, into that
 * chunk). Parts of a chunk the socket may still hold are never touched again; later frames go after them, or into a
 * fresh chunk.
 */
export class FrameWriter {
  private buf: Buffer = Buffer.alloc(0);
  /** Frames not handed to the socket yet: buf[start, off). */
  private start = 0;
  private off = 0;
  private scheduled = false;
  /** Time of the last flush, for heartbeats: a peer that hears nothing for a while gets a PING. */
  lastWrite = Date.now();
  private readonly flushFn = (): void => this.flush();

  constructor(private readonly socket: Socket) {}

  /** Bytes accepted but not yet taken by the kernel. */
  get backlog(): number {
    return this.off - this.start + this.socket.writableLength;
  }

  write(cmd: object): void {
    this.writePacked(packr.pack(cmd));
  }

  /** Queue a body already encoded with {@link packCommand} (the client checks its size before sending). */
  writePacked(body: Buffer): void {
    this.room(FRAME_HEADER_BYTES + body.length);
    this.buf.writeUInt32BE(body.length, this.off);
    body.copy(this.buf, this.off + FRAME_HEADER_BYTES);
    this.written(FRAME_HEADER_BYTES + body.length);
  }

  /** A MESSAGE frame for delivery `tag` of `m` on subscription `sid`, encoded in place (hot-encode.ts). */
  writeMessage(sid: number, tag: number, m: MessageFields): void {
    this.room(FRAME_HEADER_BYTES + messageBound(m));
    const at = this.off;
    const endAt = encodeMessage(this.buf, at + FRAME_HEADER_BYTES, sid, tag, m);
    this.buf.writeUInt32BE(endAt - at - FRAME_HEADER_BYTES, at);
    this.written(endAt - at);
  }

  /**
   * A SEND frame, encoded in place when it has the plain shape (hot-encode.ts), else packed by msgpackr.
   * @returns false, with nothing written, when its body would exceed `maxFrameSize` bytes.
   */
  writeSend(cmd: SendCmd, maxFrameSize: number): boolean {
    const bound = sendBound(cmd);
    if (bound < 0) {
      const packed = packr.pack(cmd);
      if (packed.length > maxFrameSize) return false;
      this.writePacked(packed);
      return true;
    }
    this.room(FRAME_HEADER_BYTES + bound);
    const at = this.off;
    const size = encodeSend(this.buf, at + FRAME_HEADER_BYTES, cmd) - at - FRAME_HEADER_BYTES;
    if (size > maxFrameSize) return false;
    this.buf.writeUInt32BE(size, at);
    this.written(FRAME_HEADER_BYTES + size);
    return true;
  }

  /**
   * RECEIPT for `rid`, encoded in place: one per persistent send, so it is on the store's hot path (msgpackr
   * packed a map into a buffer of its own for each).
   */
  writeReceipt(rid: number): void {
    this.room(FRAME_HEADER_BYTES + RECEIPT_HEAD.length + 9);
    const at = this.off;
    let off = at + FRAME_HEADER_BYTES;
    RECEIPT_HEAD.copy(this.buf, off);
    off += RECEIPT_HEAD.length;
    if (Number.isInteger(rid) && rid >= 0 && rid <= 0xffffffff) {
      this.buf[off] = 0xce;
      this.buf.writeUInt32BE(rid, off + 1);
      off += 5;
    } else {
      this.buf[off] = 0xcb;
      this.buf.writeDoubleBE(rid, off + 1);
      off += 9;
    }
    this.buf.writeUInt32BE(off - at - FRAME_HEADER_BYTES, at);
    this.written(off - at);
  }

  /** Room for `n` more bytes at `off`: what is waiting goes out first when a new chunk is needed, to keep the order. */
  private room(n: number): void {
    if (this.buf.length - this.off >= n) return;
    if (this.off > this.start) this.flush();
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, n));
    this.start = 0;
    this.off = 0;
  }

  private written(n: number): void {
    this.off += n;
    if (this.off - this.start >= FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushFn);
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.off === this.start) return;
    const out = this.buf.subarray(this.start, this.off);
    this.start = this.off;
    this.lastWrite = Date.now();
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(out);
    // The kernel took all of it at once (the usual case on a socket that keeps up): nothing holds the chunk any
    // more, so the next frames reuse it from the start, warm in the cache, instead of faulting in fresh pages.
    if (this.socket.writableLength === 0) {
      this.start = 0;
      this.off = 0;
    }
  }
}
