import { FrameTooLargeError } from '../errors.js';

const EMPTY = Buffer.alloc(0);

/** Bytes of the big-endian length prefix in front of every frame body. */
export const FRAME_HEADER_BYTES = 4;
/** Largest length a 4-byte prefix can declare; also the "no limit" value of maxFrameSize. */
export const MAX_FRAME_SIZE_LIMIT = 0xffffffff;

/**
 * Pure length-prefixed frame decoder: chunks in, frame bodies out. It knows nothing of sockets.
 *
 * A frame whose declared length exceeds `maxFrameSize` is rejected as soon as its 4-byte header is seen, before
 * any of its body is buffered (PROTOCOL.md §1). After an error the decoder is dead: the stream is out of sync.
 *
 * Bodies are handed out as views on the received chunks where a frame lies inside one chunk (no copy); a frame
 * split across chunks is assembled once, when its last byte arrives.
 */
export class FrameDecoder {
  private readonly maxFrameSize: number;
  /** Chunks holding a partial frame (header and/or body). */
  private parts: Buffer[] = [];
  private partsLen = 0;
  /** Body length of the frame being assembled, or -1 while its header is incomplete. */
  private need = -1;
  private dead = false;

  constructor(maxFrameSize: number = MAX_FRAME_SIZE_LIMIT) {
    this.maxFrameSize = maxFrameSize;
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.partsLen;
  }

  /**
   * Feed one chunk; `onFrame` is called synchronously for each complete frame body, in order.
   * @throws FrameTooLargeError when a header declares more than maxFrameSize bytes.
   */
  push(chunk: Buffer, onFrame: (body: Buffer) => void): void {
    this.pushSpans(chunk, (buf, start, end) => onFrame(start === 0 && end === buf.length ? buf : buf.subarray(start, end)));
  }

  /**
   * {@link push} without a Buffer per frame: each frame body is `buf[start, end)` (a receiver that reads the bytes
   * in place — the broker's SEND reader — makes no view at all for most frames).
   */
  pushSpans(chunk: Buffer, onFrame: (buf: Buffer, start: number, end: number) => void): void {
    if (this.dead) return;
    let buf = chunk;
    let off = 0;
    if (this.partsLen > 0 || this.need >= 0) {
      // Finish the frame in progress first.
      if (this.need < 0) {
        const take = Math.min(FRAME_HEADER_BYTES - this.partsLen, buf.length);
        this.parts.push(buf.subarray(0, take));
        this.partsLen += take;
        off = take;
        if (this.partsLen < FRAME_HEADER_BYTES) return;
        const header = Buffer.concat(this.parts, FRAME_HEADER_BYTES);
        this.parts = [];
        this.partsLen = 0;
        this.need = this.checkLength(header.readUInt32BE(0));
        if (this.need === 0) {
          this.need = -1;
          onFrame(EMPTY, 0, 0);
        }
      }
      if (this.need >= 0) {
        const take = Math.min(this.need - this.partsLen, buf.length - off);
        if (take > 0) this.parts.push(buf.subarray(off, off + take));
        this.partsLen += take;
        off += take;
        if (this.partsLen < this.need) return;
        const body = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.need);
        this.parts = [];
        this.partsLen = 0;
        this.need = -1;
        onFrame(body, 0, body.length);
      }
    }
    // Whole frames inside this chunk: no copies.
    const len = buf.length;
    while (off < len) {
      if (this.dead) return;
      if (len - off < FRAME_HEADER_BYTES) {
        this.parts.push(buf.subarray(off));
        this.partsLen = len - off;
        return;
      }
      const size = this.checkLength(buf.readUInt32BE(off));
      off += FRAME_HEADER_BYTES;
      if (len - off < size) {
        this.need = size;
        if (len > off) {
          this.parts.push(buf.subarray(off));
          this.partsLen = len - off;
        }
        return;
      }
      const start = off;
      off += size;
      onFrame(buf, start, off);
    }
  }

  private checkLength(size: number): number {
    if (size > this.maxFrameSize) {
      this.dead = true;
      this.parts = [];
      this.partsLen = 0;
      throw new FrameTooLargeError(
        `frame of ${size} bytes exceeds wireFormat.maxFrameSize=${this.maxFrameSize}`,
      );
    }
    return size;
  }
}

/** Write a frame header for a body of `size` bytes. */
export function frameHeader(size: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUInt32BE(size, 0);
  return h;
}
