import type { BrokerMessage } from '../model/message.js';

/**
 * A queue message sent back towards a broker it already passed through (stuck-message replay) may travel at most
 * this many hops in all: consumers flapping between brokers cannot make it circle for ever.
 */
export const MAX_REPLAY_HOPS = 16;

/**
 * Loop prevention for a network consumer that sends messages to broker `peer` (ActiveMQ's NetworkBridgeFilter):
 * a message that came through `peer` does not go back to it — unless it is a queue message this broker has no
 * local consumer for (stuck-message replay, hop-capped) — and no message goes beyond `networkTTL` hops.
 * `peer()` is read per message: a bridge's peer may change (a master/slave takeover).
 */
export function networkAccept(
  dest: string,
  peer: () => string | null,
  networkTTL: number,
  localConsumers: () => number,
): (m: BrokerMessage) => boolean {
  const queue = dest.startsWith('queue://');
  return (m) => {
    const p = m.path;
    if (p === undefined) return true;
    const to = peer();
    if (to !== null && p.includes(to)) return queue && p.length < MAX_REPLAY_HOPS && localConsumers() === 0;
    return p.length < networkTTL;
  };
}
