import { setTimeout as delay } from 'node:timers/promises';
import { FerryError } from '../errors.js';

/**
 * One part of a node with a lifecycle (ActiveMQ's `Service`): the store and core, each transport connector, and
 * later bridges, discovery and the console. A {@link FerryNode} starts its services in order and stops the ones
 * it started in reverse order.
 *
 * Rules a service keeps:
 * - `start` honours `signal`: once it is aborted, a wait (for a lock, a peer, a backoff) ends at once and start
 *   rejects (with {@link stoppedError}); work that cannot be interrupted (opening LevelDB) finishes and then
 *   notices. The node never calls stop() while start() is still running.
 * - `stop` is idempotent, may follow a start that failed or was aborted part-way, clears its timers, and does
 *   not reject for trouble it can log instead.
 */
export interface Service {
  /** For logs: 'store', 'connector openwire', 'bridge network_a', … */
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

/** The error a start rejects with when the node was stopped while it ran. */
export function stoppedError(what: string): FerryError {
  return new FerryError('FERRY_BROKER_STOPPING', `${what}: stopped while starting`);
}

/** Resolves after `ms`, or rejects with {@link stoppedError} as soon as `signal` is aborted. */
export async function sleep(ms: number, signal: AbortSignal, what: string): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (err) {
    if (signal.aborted) throw stoppedError(what);
    throw err;
  }
}
