/**
 * A pure STOMP 1.0/1.1/1.2 frame parser: byte chunks in, frames out, split anywhere. It knows nothing of sockets.
 *
 * - EOLs between frames (LF or CR LF) are heart-beats: skipped and counted.
 * - Lines end with LF or CR LF, in every version.
 * - A body is read up to its `content-length` (then a NUL must follow) or, without one, up to the first NUL.
 * - A header given twice: the first occurrence wins (STOMP 1.2 §Repeated Header Entries).
 * - From 1.1 on, header names and values are unescaped (`\n`, `\c`, `\\`, and `\r`), except in CONNECT, STOMP and
 *   CONNECTED frames; any other `\x` sequence is a fatal error. 1.0 headers are taken literally.
 * - Limits are checked while reading, before anything large is buffered: a header section longer than
 *   min(maxFrameSize, 1 MiB), a `content-length` that makes the frame larger than maxFrameSize, or a NUL-terminated
 *   body growing past it. After an error the parser is dead: the stream is out of sync.
 */

export type StompVersion = '1.0' | '1.1' | '1.2';
export const STOMP_VERSIONS: readonly StompVersion[] = ['1.0', '1.1', '1.2'];

export interface StompFrame {
  command: string;
  /** Header name → value, first occurrence of a repeated name only, in the order given. */
  headers: Map<string, string>;
  body: Buffer;
}

/** Bytes that are not a STOMP frame, or a frame over a limit. The message says which. */
export class StompParseError extends Error {
  constructor(
    message: string,
    /** The frame's `receipt` header, when the error was found after the headers were read. */
    readonly receipt?: string,
  ) {
    super(message);
    this.name = 'StompParseError';
  }
}

/** Headers one frame may carry (ActiveMQ's StompWireFormat MAX_HEADERS). */
export const MAX_HEADERS = 1000;
/** Longest command line (ActiveMQ's MAX_COMMAND_LENGTH). */
export const MAX_COMMAND_LENGTH = 1024;
/** Header section buffered at most, whatever maxFrameSize allows. */
export const MAX_HEADER_SECTION = 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const COLON = 0x3a;

type State = 'idle' | 'head' | 'body-length' | 'body-nul' | 'dead';

/** Frames whose headers are never escaped. */
const RAW_COMMANDS = new Set(['CONNECT', 'STOMP', 'CONNECTED']);

export class StompParser {
  /** Header escaping follows this version; set it once CONNECTED has been sent. */
  version: StompVersion = '1.0';
  /** EOL heart-beats seen between frames. */
  heartbeats = 0;
  private state: State = 'idle';
  private readonly maxFrameSize: number;
  private readonly maxHead: number;
  /** The header line being assembled. */
  private line = Buffer.allocUnsafe(256);
  private lineLen = 0;
  /** Bytes of the current frame's command and header lines so far. */
  private headBytes = 0;
  private command = '';
  private headers = new Map<string, string>();
  private headerCount = 0;
  private bodyParts: Buffer[] = [];
  private bodyLen = 0;
  /** Body bytes still wanted (content-length mode); -1 once they are all in and the NUL is next. */
  private need = 0;

  constructor(maxFrameSize: number = 0xffffffff) {
    this.maxFrameSize = maxFrameSize;
    this.maxHead = Math.min(maxFrameSize, MAX_HEADER_SECTION);
  }

  /** True between frames (nothing of a frame buffered). */
  get idle(): boolean {
    return this.state === 'idle';
  }

  /**
   * Feed one chunk; `onFrame` is called synchronously for each complete frame, in order.
   * @throws StompParseError naming the problem; the parser is unusable afterwards.
   */
  push(chunk: Buffer, onFrame: (f: StompFrame) => void): void {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      switch (this.state) {
        case 'idle': {
          const b = chunk[off]!;
          if (b === LF) {
            this.heartbeats++;
            off++;
          } else if (b === CR) {
            off++;
          } else {
            this.state = 'head';
          }
          break;
        }
        case 'head':
          off = this.readHead(chunk, off);
          break;
        case 'body-length':
          off = this.readCounted(chunk, off, onFrame);
          break;
        case 'body-nul':
          off = this.readToNul(chunk, off, onFrame);
          break;
        case 'dead':
          return;
      }
    }
  }

  private fail(message: string, withReceipt = false): never {
    this.state = 'dead';
    throw new StompParseError(message, withReceipt ? this.headers.get('receipt') : undefined);
  }

  /** Command and header lines, one byte at a time up to each LF. @returns the offset after what was used. */
  private readHead(chunk: Buffer, off: number): number {
    const n = chunk.length;
    while (off < n) {
      const nl = chunk.indexOf(LF, off);
      const end = nl < 0 ? n : nl;
      const take = end - off;
      this.headBytes += take + (nl < 0 ? 0 : 1);
      if (this.headBytes > this.maxHead) {
        const limit = this.maxHead === this.maxFrameSize ? `wireFormat.maxFrameSize=${this.maxFrameSize}` : `${MAX_HEADER_SECTION} bytes`;
        this.fail(`frame header section exceeds ${limit}`);
      }
      if (this.command === '' && this.lineLen + take > MAX_COMMAND_LENGTH) {
        this.fail(`malformed frame: no command line within ${MAX_COMMAND_LENGTH} bytes`);
      }
      this.appendLine(chunk, off, end);
      if (this.command === '') this.checkCommandBytes();
      if (nl < 0) return n;
      off = nl + 1;
      let len = this.lineLen;
      if (len > 0 && this.line[len - 1] === CR) len--;
      this.lineLen = 0;
      if (this.command === '') {
        this.command = this.line.toString('latin1', 0, len);
        continue;
      }
      if (len === 0) return this.startBody(off);
      this.header(len);
    }
    return off;
  }

  private appendLine(chunk: Buffer, from: number, to: number): void {
    const need = this.lineLen + (to - from);
    if (need > this.line.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.line.length * 2));
      this.line.copy(grown, 0, 0, this.lineLen);
      this.line = grown;
    }
    chunk.copy(this.line, this.lineLen, from, to);
    this.lineLen = need;
  }

  /** The command line may hold letters only (a trailing CR aside): garbage is refused at its first byte. */
  private checkCommandBytes(): void {
    for (let i = 0; i < this.lineLen; i++) {
      const b = this.line[i]!;
      const letter = (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
      if (!letter && !(b === CR && i === this.lineLen - 1)) {
        const shown = b < 0x20 || b > 0x7e ? `byte 0x${b.toString(16).padStart(2, '0')}` : JSON.stringify(String.fromCharCode(b));
        this.fail(`malformed frame: ${shown} in the command line (expected a STOMP command such as CONNECT or SEND)`);
      }
    }
  }

  private header(len: number): void {
    if (++this.headerCount > MAX_HEADERS) this.fail(`frame has more than ${MAX_HEADERS} headers`, true);
    const line = this.line;
    const colon = line.indexOf(COLON);
    if (colon < 0 || colon >= len) {
      this.fail(`malformed header line ${JSON.stringify(line.toString('utf8', 0, Math.min(len, 60)))}: no ':'`, true);
    }
    if (colon === 0) this.fail('malformed header line: empty header name', true);
    const escaped = this.version !== '1.0' && !RAW_COMMANDS.has(this.command);
    let name = line.toString('utf8', 0, colon);
    let value = line.toString('utf8', colon + 1, len);
    if (escaped) {
      name = this.unescape(name);
      value = this.unescape(value);
    }
    if (!this.headers.has(name)) this.headers.set(name, value);
  }

  private unescape(s: string): string {
    if (!s.includes('\\')) return s;
    let out = '';
    for (let i = 0; i < s.length; i++) {
      const c = s[i]!;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = s[++i];
      if (e === 'n') out += '\n';
      else if (e === 'r') out += '\r';
      else if (e === 'c') out += ':';
      else if (e === '\\') out += '\\';
      else this.fail(`undefined escape sequence ${e === undefined ? 'at the end' : JSON.stringify(`\\${e}`)} in a header (STOMP ${this.version})`, true);
    }
    return out;
  }

  private startBody(off: number): number {
    const cl = this.headers.get('content-length');
    if (cl === undefined) {
      this.state = 'body-nul';
      return off;
    }
    const t = cl.trim();
    if (!/^\d{1,15}$/.test(t)) this.fail(`invalid content-length ${JSON.stringify(cl.slice(0, 40))}: expected a number of bytes`, true);
    const len = Number(t);
    if (this.headBytes + len + 1 > this.maxFrameSize) {
      this.fail(`frame of ${this.headBytes + len + 1} bytes (content-length ${len}) exceeds wireFormat.maxFrameSize=${this.maxFrameSize}`, true);
    }
    this.need = len;
    this.state = 'body-length';
    return off;
  }

  private readCounted(chunk: Buffer, off: number, onFrame: (f: StompFrame) => void): number {
    if (this.need > 0) {
      const take = Math.min(this.need, chunk.length - off);
      this.bodyParts.push(chunk.subarray(off, off + take));
      this.bodyLen += take;
      this.need -= take;
      off += take;
      if (this.need > 0) return off;
    }
    if (off >= chunk.length) return off;
    if (chunk[off] !== NUL) {
      this.fail(`frame body is not followed by a NUL byte after content-length ${this.bodyLen} bytes`, true);
    }
    this.emit(onFrame);
    return off + 1;
  }

  private readToNul(chunk: Buffer, off: number, onFrame: (f: StompFrame) => void): number {
    const nul = chunk.indexOf(NUL, off);
    const end = nul < 0 ? chunk.length : nul;
    if (this.headBytes + this.bodyLen + (end - off) + 1 > this.maxFrameSize) {
      this.fail(`frame body without content-length grows past wireFormat.maxFrameSize=${this.maxFrameSize} with no NUL`, true);
    }
    if (end > off) {
      this.bodyParts.push(chunk.subarray(off, end));
      this.bodyLen += end - off;
    }
    if (nul < 0) return chunk.length;
    this.emit(onFrame);
    return nul + 1;
  }

  private emit(onFrame: (f: StompFrame) => void): void {
    // Always a copy: a body kept by the broker must not pin the socket's chunk it arrived in.
    const body = this.bodyParts.length === 0 ? Buffer.alloc(0) : Buffer.concat(this.bodyParts, this.bodyLen);
    const frame: StompFrame = { command: this.command, headers: this.headers, body };
    this.state = 'idle';
    this.command = '';
    this.headers = new Map();
    this.headerCount = 0;
    this.headBytes = 0;
    this.bodyParts = [];
    this.bodyLen = 0;
    this.need = 0;
    onFrame(frame);
  }
}
