import type { BrowsedMessage, SendCmd } from '../protocol/commands.js';
import type { BrokerMessage, SendInput } from './message.js';

/**
 * The native protocol's view of a message, both ways, written once: what a SEND carries into the broker, and what
 * a MESSAGE or a BROWSE answer carries out. (STOMP has its own mapping: transport/stomp/mapping.ts.)
 */

/** A SEND command as the broker's input. */
export function sendInputOf(cmd: SendCmd): SendInput {
  return {
    dest: cmd.dest,
    body: cmd.body,
    bt: cmd.bt ?? 0,
    persistent: cmd.persistent === true,
    pid: cmd.pid,
    seq: cmd.seq,
    headers: cmd.headers ?? undefined,
    priority: cmd.priority,
    ttl: cmd.ttl,
    correlationId: cmd.correlationId,
    replyTo: cmd.replyTo,
    path: cmd.path,
    id: cmd.mid,
    timestamp: cmd.ts,
    expires: cmd.exp,
    redelivered: cmd.rd,
  };
}

// A MESSAGE is written straight from the BrokerMessage by protocol/hot-encode.ts's encodeMessage (MessageFields
// there is the part of the message model it reads): one copy of the body, no intermediate command object.

/** A message as BROWSE returns it. */
export function browsedOf(m: BrokerMessage): BrowsedMessage {
  const b: BrowsedMessage = {
    id: m.id,
    dest: m.dest,
    body: m.body,
    bt: m.bt,
    persistent: m.persistent,
    priority: m.priority,
    timestamp: m.timestamp,
    expires: m.expires,
    deliveryCount: m.deliveryCount,
  };
  if (m.headers !== undefined) b.headers = m.headers;
  return b;
}
