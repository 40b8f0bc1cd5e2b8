import type { Socket } from 'node:net';
import type { StompVersion } from './parser.js';

export type HeaderList = Iterable<readonly [string, string]>;

/**
 * Escape a header name or value for `version`: 1.1 escapes `\`, LF and `:`; 1.2 CR too. 1.0 has no escaping, so a
 * line break there (which would end the header) becomes a space.
 */
export function escapeHeader(s: string, version: StompVersion | null): string {
  if (version === null || version === '1.0') return /[\r\n]/.test(s) ? s.replace(/[\r\n]/g, ' ') : s;
  if (!/[\\\n\r:]/.test(s)) return s;
  let out = '';
  for (const c of s) {
    if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === ':') out += '\\c';
    else if (c === '\r' && version === '1.2') out += '\\r';
    else out += c;
  }
  return out;
}

/**
 * Encode one frame. Headers are escaped for `version` (null: not at all, as in CONNECTED and in anything sent before
 * a version was agreed). A frame with a body always carries `content-length`, so a body may hold NULs.
 * In 1.0 a header name holding `:` or a line break cannot be written and is left out.
 */
export function encodeFrame(command: string, headers: HeaderList, body: Uint8Array | null, version: StompVersion | null): Buffer {
  let head = `${command}\n`;
  for (const [k, v] of headers) {
    if ((version === null || version === '1.0') && /[:\r\n]/.test(k)) continue;
    head += `${escapeHeader(k, version)}:${escapeHeader(v, version)}\n`;
  }
  const bodyLen = body === null ? 0 : body.byteLength;
  if (body !== null) head += `content-length:${bodyLen}\n`;
  head += '\n';
  const headLen = Buffer.byteLength(head);
  const out = Buffer.allocUnsafe(headLen + bodyLen + 1);
  out.write(head, 0, 'utf8');
  if (body !== null && bodyLen > 0) out.set(body, headLen);
  out[headLen + bodyLen] = 0;
  return out;
}

/** An ERROR frame: `message` names the problem (one line), the body says it again in full. */
export function encodeError(message: string, version: StompVersion | null, extra: HeaderList = []): Buffer {
  const oneLine = message.replace(/[\r\n]+/g, ' ');
  const headers: (readonly [string, string])[] = [['message', oneLine.length > 500 ? `${oneLine.slice(0, 497)}...` : oneLine], ...extra];
  headers.push(['content-type', 'text/plain;charset=utf-8']);
  return encodeFrame('ERROR', headers, Buffer.from(`${message}\n`, 'utf8'), version);
}

/** Flush at once when this many bytes are waiting, instead of at the end of the tick. */
const FLUSH_BYTES = 256 * 1024;
const EOL = Buffer.from('\n');

/**
 * Coalesces outbound frames (like the native FrameWriter): frames written during one tick of the event loop leave
 * in a single socket write.
 */
export class StompWriter {
  private parts: Buffer[] = [];
  private bytes = 0;
  private scheduled = false;
  /** Time of the last flush: heart-beats are due after a quiet spell. */
  lastWrite = Date.now();
  /** Called after every flush that wrote something. */
  onFlush: (() => void) | null = null;
  private readonly flushFn = (): void => this.flush();

  constructor(private readonly socket: Socket) {}

  /** Bytes accepted but not yet taken by the kernel. */
  get backlog(): number {
    return this.bytes + this.socket.writableLength;
  }

  write(frame: Buffer): void {
    this.parts.push(frame);
    this.bytes += frame.length;
    if (this.bytes >= FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushFn);
    }
  }

  /** An EOL heart-beat. */
  heartbeat(): void {
    this.write(EOL);
  }

  flush(): void {
    this.scheduled = false;
    if (this.parts.length === 0) return;
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    this.lastWrite = Date.now();
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(out);
    this.onFlush?.();
  }
}
