import { connect as netConnect, type Socket } from 'node:net';
import type t from 'tap';
import { encodeFrame } from '../../src/transport/stomp/encoder.js';
import { type StompFrame, StompParser, type StompVersion } from '../../src/transport/stomp/parser.js';

export type H = Record<string, string>;
/** What an ERROR check needs of a test. */
type T = Pick<typeof t, 'match' | 'equal'>;

/** A raw STOMP peer: writes whatever bytes a test wants, parses what the broker answers, notes heart-beats. */
export class StompPeer {
  readonly frames: StompFrame[] = [];
  /** Arrival times of EOL heart-beats. */
  readonly beats: number[] = [];
  closed = false;
  private readonly parser = new StompParser();
  private wake: (() => void)[] = [];
  readonly done: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      const before = this.parser.heartbeats;
      try {
        this.parser.push(c, (f) => {
          if (f.command === 'CONNECTED' && f.headers.has('version')) this.parser.version = f.headers.get('version') as StompVersion;
          this.frames.push(f);
        });
      } catch {
        // a test peer tolerates anything
      }
      for (let i = before; i < this.parser.heartbeats; i++) this.beats.push(Date.now());
      this.notify();
    });
    socket.on('error', () => {});
    this.done = new Promise((resolve) => socket.on('close', () => ((this.closed = true), this.notify(), resolve())));
  }

  static open(port: number): Promise<StompPeer> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port }, () => resolve(new StompPeer(s)));
      s.once('error', reject);
    });
  }

  static async connected(port: number, headers: H = { 'accept-version': '1.2', host: 'localhost' }): Promise<StompPeer> {
    const p = await StompPeer.open(port);
    p.send('CONNECT', headers);
    await p.waitFor('CONNECTED');
    return p;
  }

  get version(): StompVersion {
    return this.parser.version;
  }

  send(command: string, headers: H = {}, body?: string | Buffer): void {
    const b = body === undefined ? null : Buffer.from(body);
    const raw = command === 'CONNECT' || command === 'STOMP';
    this.socket.write(encodeFrame(command, Object.entries(headers), b, raw ? null : this.version));
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  async waitFor(what: string | ((f: StompFrame) => boolean), timeoutMs = 5000): Promise<StompFrame> {
    const pred = typeof what === 'string' ? (f: StompFrame) => f.command === what : what;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.frames.find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (this.closed || left <= 0) {
        throw new Error(`${this.closed ? 'closed' : 'timed out'} waiting for ${String(what)}; got ${this.frames.map((f) => f.command).join(',')}`);
      }
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.wake.push(() => (clearTimeout(timer), r()));
      });
    }
  }

  /** The ERROR frame, after which the broker must have closed the connection. */
  async error(t: T, message: RegExp, receipt?: string): Promise<StompFrame> {
    const e = await this.waitFor('ERROR');
    t.match(e.headers.get('message'), message, `ERROR names the problem: ${e.headers.get('message')}`);
    if (receipt !== undefined) t.equal(e.headers.get('receipt-id'), receipt, 'ERROR carries the receipt-id');
    await this.closedWithin(3000);
    return e;
  }

  async closedWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.done, new Promise((_, rej) => (timer = setTimeout(() => rej(new Error('connection not closed')), ms)))]);
    clearTimeout(timer);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }
}

