import type { Socket } from 'node:net';
import { Packr } from 'msgpackr';
import { FRAME_HEADER_BYTES } from '../protocol/frame.js';

const packr = new Packr({ useRecords: false, structuredClone: false, variableMapSize: true });

/** Encode a command's body (no length prefix). */
export function packCommand(cmd: object): Buffer {
  return packr.pack(cmd);
}

/** Flush at once when this many bytes are waiting, instead of at the end of the tick. */
const FLUSH_BYTES = 256 * 1024;

/**
 * Coalesces outbound frames: commands written during one tick of the event loop leave in a single socket
 * write, with one copy of each encoded body into it.
 */
export class FrameWriter {
  private bodies: Buffer[] = [];
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

  /** Queue a body already encoded with {@link packCommand} (the client checks its size before sending). */
  writePacked(body: Buffer): void {
    this.bodies.push(body);
    this.bytes += FRAME_HEADER_BYTES + body.length;
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
      out.writeUInt32BE(b.length, off);
      b.copy(out, off + FRAME_HEADER_BYTES);
      off += FRAME_HEADER_BYTES + b.length;
    }
    this.bodies = [];
    this.bytes = 0;
    this.lastWrite = Date.now();
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(out);
  }
}
