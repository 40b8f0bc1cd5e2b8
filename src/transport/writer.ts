import type { Socket } from 'node:net';
import { Packr } from 'msgpackr';
import { FRAME_HEADER_BYTES } from '../protocol/frame.js';

const packr = new Packr({ useRecords: false, structuredClone: false, variableMapSize: true });

/** Encode a command's body (no length prefix). */
export function packCommand(cmd: object): Buffer {
  return packr.pack(cmd);
}

/** Bytes waiting to go out on a connection past which deliveries to it pause (its consumer is not reading). */
export const CONGESTED_BYTES = 4 * 1024 * 1024;

/** msgpack fixstr "body". */
const BODY_KEY = Buffer.from([0xa4, 0x62, 0x6f, 0x64, 0x79]);

function binHeaderLength(n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** msgpack bin 8/16/32 header for `n` bytes at `off`; returns the offset after it. */
function writeBinHeader(out: Buffer, off: number, n: number): number {
  if (n < 0x100) {
    out[off] = 0xc4;
    out[off + 1] = n;
    return off + 2;
  }
  if (n < 0x10000) {
    out[off] = 0xc5;
    out.writeUInt16BE(n, off + 1);
    return off + 3;
  }
  out[off] = 0xc6;
  out.writeUInt32BE(n, off + 1);
  return off + 5;
}

/** Flush at once when this many bytes are waiting, instead of at the end of the tick. */
const FLUSH_BYTES = 256 * 1024;

/**
 * Coalesces outbound frames: commands written during one tick of the event loop leave in a single socket
 * write, with one copy of each encoded body into it.
 */
export class FrameWriter {
  /** Encoded frame bodies, or [head, payload] pairs whose payload is appended as the map's last `body` entry. */
  private bodies: (Buffer | [Buffer, Uint8Array])[] = [];
  private bytes = 0;
  private scheduled = false;
  /** Time of the last flush, for heartbeats: a peer that hears nothing for a while gets a PING. */
  lastWrite = Date.now();
  private readonly flushFn = (): void => this.flush();

  constructor(private readonly socket: Socket) {}

  /** Bytes accepted but not yet taken by the kernel. */
  get backlog(): number {
    return this.bytes + this.socket.writableLength;
  }

  write(cmd: object): void {
    this.writePacked(packr.pack(cmd));
  }

  /**
   * Write a command with a binary `body` field without copying the body into an intermediate msgpack buffer:
   * the rest of the command is packed as a map, and `body` is appended as its last entry when the frame is
   * assembled, so a message body is copied once, into the outgoing write. `cmd` must have fewer than 15 fields
   * and no `body` of its own.
   */
  writeWithBody(cmd: object, body: Uint8Array): void {
    const head = packr.pack(cmd);
    // packr writes a map of up to 15 entries as a one-byte fixmap header (0x80 | n): room for one more entry.
    if ((head[0]! & 0xf0) !== 0x80 || (head[0]! & 0x0f) === 0x0f) {
      this.write({ ...cmd, body });
      return;
    }
    this.bodies.push([head, body]);
    this.bytes += FRAME_HEADER_BYTES + head.length + BODY_KEY.length + binHeaderLength(body.length) + body.length;
    this.schedule();
  }

  /** Queue a body already encoded with {@link packCommand} (the client checks its size before sending). */
  writePacked(body: Buffer): void {
    this.bodies.push(body);
    this.bytes += FRAME_HEADER_BYTES + body.length;
    this.schedule();
  }

  private schedule(): void {
    if (this.bytes >= FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushFn);
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.bodies.length === 0) return;
    const out = Buffer.allocUnsafe(this.bytes);
    let off = 0;
    for (const b of this.bodies) {
      if (Buffer.isBuffer(b)) {
        out.writeUInt32BE(b.length, off);
        b.copy(out, off + FRAME_HEADER_BYTES);
        off += FRAME_HEADER_BYTES + b.length;
        continue;
      }
      const [head, payload] = b;
      const start = off;
      off += FRAME_HEADER_BYTES;
      out[off] = head[0]! + 1; // one more map entry
      head.copy(out, off + 1, 1);
      off += head.length;
      BODY_KEY.copy(out, off);
      off += BODY_KEY.length;
      off = writeBinHeader(out, off, payload.length);
      out.set(payload, off);
      off += payload.length;
      out.writeUInt32BE(off - start - FRAME_HEADER_BYTES, start);
    }
    this.bodies = [];
    this.bytes = 0;
    this.lastWrite = Date.now();
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(out);
  }
}
