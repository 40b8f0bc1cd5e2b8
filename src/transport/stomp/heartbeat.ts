/**
 * STOMP heart-beating (1.2 §Heart-beating) under the connector's `wireFormat.maxInactivityDuration` D.
 *
 * CONNECT says `heart-beat:cx,cy`: the client can send every cx ms (0: cannot) and wants to hear from the server
 * every cy ms (0: does not). CONNECTED answers `sx,sy`:
 * - sx = max(cy, 100) when cy > 0, else 0: the broker sends an EOL whenever it has written nothing for a while,
 *   so the client hears something at least every max(sx, cy) = sx ms.
 * - sy = D/3 (at least 100) when D > 0, else 0: the client is asked to send every max(cx, sy) ms.
 * - A client that offers heart-beats (cx > 0) and then sends nothing, not even an EOL, for D ms (or twice its own
 *   period, if that is longer) gets an ERROR and is closed. D = 0 (set on the connector) switches that off.
 * - Silence while the broker itself is not reading (flow control paused the socket) is not counted
 *   (transport/inactivity.ts, the monitor both protocols share).
 * - A client that cannot send heart-beats (cx = 0, and every STOMP 1.0 client) is not timed out for silence, as in
 *   ActiveMQ: an idle consumer is silent by nature. TCP keep-alive (set by the connection) finds its death instead.
 */

/** Shortest heart-beat period the broker sends at, or asks for. */
export const MIN_HEARTBEAT_MS = 100;
/** Largest heart-beat value accepted (Node's timer limit). */
const MAX_HEARTBEAT_MS = 2147483647;

export interface HeartbeatPlan {
  /** The CONNECTED header value, `sx,sy`. */
  header: string;
  /** Send an EOL when nothing was written for this long (0: never). */
  sendEveryMs: number;
  /** Close when nothing was read for this long (0: never). */
  readTimeoutMs: number;
  /** What the client offered, for messages. */
  clientSendsMs: number;
}

/**
 * Parse a `heart-beat` header value: two non-negative integers separated by a comma (spaces around them allowed).
 * @returns null when the value is malformed
 */
export function parseHeartBeat(value: string): [number, number] | null {
  const m = /^\s*(\d{1,10})\s*,\s*(\d{1,10})\s*$/.exec(value);
  if (!m) return null;
  const cx = Number(m[1]);
  const cy = Number(m[2]);
  if (cx > MAX_HEARTBEAT_MS || cy > MAX_HEARTBEAT_MS) return null;
  return [cx, cy];
}

/** Plan the heart-beats of a connection, given the client's (already parsed) `heart-beat` and the connector's D. */
export function negotiateHeartbeat(client: [number, number] | null, maxInactivityMs: number): HeartbeatPlan {
  const [cx, cy] = client ?? [0, 0];
  const sx = cy > 0 ? Math.max(cy, MIN_HEARTBEAT_MS) : 0;
  const sy = maxInactivityMs > 0 ? Math.max(MIN_HEARTBEAT_MS, Math.floor(maxInactivityMs / 3)) : 0;
  const readTimeoutMs = cx > 0 && maxInactivityMs > 0 ? Math.max(maxInactivityMs, 2 * Math.max(cx, sy)) : 0;
  return { header: `${sx},${sy}`, sendEveryMs: sx, readTimeoutMs, clientSendsMs: cx };
}

/**
 * The plan as {@link InactivityMonitor} timing: an EOL after 3/4 of the send period without output (so it arrives on
 * time even with the check's own granularity), and the read timeout as planned.
 */
export function heartbeatTiming(plan: HeartbeatPlan): { readTimeoutMs: number; writeIdleMs: number } {
  return { readTimeoutMs: plan.readTimeoutMs, writeIdleMs: (plan.sendEveryMs * 3) / 4 };
}
