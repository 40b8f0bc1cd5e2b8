/**
 * Dead-peer detection for one connection (ActiveMQ's InactivityMonitor). With an inactivity duration D, a side
 * that has written nothing for D/3 sends a PING, and a side that has read nothing for D closes the connection.
 * The check runs every D/10 (50 ms to 1 s), so a dead peer is noticed within a second of the deadline.
 */
export class InactivityMonitor {
  lastRead = Date.now();
  private timer: NodeJS.Timeout | null = null;

  start(durationMs: number, lastWrite: () => number, ping: () => void, dead: (silentMs: number) => void): void {
    this.stop();
    if (durationMs <= 0) return;
    const every = Math.min(1000, Math.max(50, Math.floor(durationMs / 10)));
    this.lastRead = Date.now();
    this.timer = setInterval(() => {
      const now = Date.now();
      const silent = now - this.lastRead;
      if (silent > durationMs) {
        this.stop();
        dead(silent);
      } else if (now - lastWrite() >= durationMs / 3) {
        ping();
      }
    }, every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
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
