/**
 * Dead-peer detection for one connection, whatever its protocol (ActiveMQ's InactivityMonitor; STOMP heart-beating
 * plans its numbers in stomp/heartbeat.ts). A side that has written nothing for `writeIdleMs` sends a keep-alive
 * (native PING, STOMP EOL); a side that has read nothing for `readTimeoutMs` gives up on its peer.
 *
 * While this side itself is not reading (the broker paused a producer's socket for flow control) the peer's silence
 * is not the peer's fault: its frames, keep-alives included, wait in the socket. That time is not counted.
 */
export interface InactivityOptions {
  /** Give up on a peer silent this long, ms; 0: never. */
  readTimeoutMs: number;
  /** Send a keep-alive after writing nothing this long, ms; 0: never. */
  writeIdleMs: number;
  /** When this side last wrote (epoch ms). */
  lastWrite(): number;
  keepAlive(): void;
  dead(silentMs: number): void;
  /** True while this side is not reading its socket on purpose. */
  readingPaused?: () => boolean;
}

/** Checks run this often at most, so a dead peer is noticed within a second of its deadline. */
const MAX_CHECK_EVERY_MS = 1000;

export class InactivityMonitor {
  /** Set by the owner on every chunk read. */
  lastRead = Date.now();
  private timer: NodeJS.Timeout | null = null;

  start(o: InactivityOptions): void {
    this.stop();
    const { readTimeoutMs: read, writeIdleMs: write } = o;
    if (read <= 0 && write <= 0) return;
    // A tenth of the read timeout (at least 50 ms), a third of the write-idle time (at least 20 ms), at most 1 s.
    const every = Math.min(MAX_CHECK_EVERY_MS, read > 0 ? Math.max(50, Math.floor(read / 10)) : MAX_CHECK_EVERY_MS, write > 0 ? Math.max(20, Math.floor(write / 3)) : MAX_CHECK_EVERY_MS);
    const paused = o.readingPaused;
    this.lastRead = Date.now();
    this.timer = setInterval(() => {
      const now = Date.now();
      if (paused !== undefined && paused()) this.lastRead = now;
      const silent = now - this.lastRead;
      if (read > 0 && silent > read) {
        this.stop();
        o.dead(silent);
        return;
      }
      if (write > 0 && now - o.lastWrite() >= write) o.keepAlive();
    }, every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

/**
 * The native protocol's timing for an inactivity duration D (PROTOCOL.md §4): PING after D/3 without writing, give
 * up after D without reading.
 */
export function nativeInactivity(durationMs: number): { readTimeoutMs: number; writeIdleMs: number } {
  return durationMs > 0 ? { readTimeoutMs: durationMs, writeIdleMs: durationMs / 3 } : { readTimeoutMs: 0, writeIdleMs: 0 };
}

/**
 * The inactivity duration both sides use: the broker's setting is a ceiling a client may lower but not remove,
 * so a client cannot switch off the broker's dead-peer detection. 0 means none.
 */
export function negotiateInactivity(brokerMs: number, clientMs: number | undefined): number {
  if (brokerMs <= 0) return clientMs !== undefined && clientMs > 0 ? clientMs : 0;
  if (clientMs === undefined || clientMs <= 0) return brokerMs;
  return Math.min(brokerMs, clientMs);
}
