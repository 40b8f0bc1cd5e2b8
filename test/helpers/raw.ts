import { connect, type Socket } from 'node:net';
import { decodeBody, encodeFrame } from '../../src/protocol/codec.js';
import { FrameDecoder } from '../../src/protocol/frame.js';

/** A raw protocol peer: writes whatever bytes a test wants, decodes what the broker answers. */
export class RawPeer {
  readonly received: Record<string, unknown>[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder();
  private waiters: (() => void)[] = [];
  readonly done: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      try {
        this.decoder.push(c, (b) => this.received.push(decodeBody(b) as Record<string, unknown>));
      } catch {
        // a test peer tolerates anything
      }
      this.wake();
    });
    socket.on('error', () => {});
    this.done = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  static async connected(port: number, extra: Record<string, unknown> = {}): Promise<RawPeer> {
    const p = await RawPeer.open(port);
    p.send({ t: 'CONNECT', v: [1], ...extra });
    await p.waitFor((c) => c['t'] === 'CONNECTED', 'CONNECTED');
    return p;
  }

  send(cmd: object): void {
    this.socket.write(encodeFrame(cmd));
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The first received command matching, waiting up to `timeoutMs`. */
  async waitFor(pred: (c: Record<string, unknown>) => boolean, what: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.find(pred);
      if (hit) return hit;
      if (this.closed) throw new Error(`connection closed before ${what}; got ${JSON.stringify(this.received.map((r) => r['t']))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.received.map((r) => r['t']))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async waitClosed(what: string, timeoutMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.done,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`connection not closed: ${what}`)), timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
