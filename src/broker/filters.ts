import { compileSelector, type SelectorSubject, type SelectorValue } from './selector.js';
import type { BrokerMessage } from '../model/message.js';

/** What a selector sees of a message: JMS header names mapped to ferrymq's fields, then the message's headers. */
function lookup(m: BrokerMessage, name: string): SelectorValue | undefined {
  switch (name) {
    case 'JMSPriority':
      return m.priority;
    case 'JMSMessageID':
      return m.id;
    case 'JMSTimestamp':
      return m.timestamp;
    case 'JMSCorrelationID':
      return m.correlationId ?? null;
    case 'JMSDeliveryMode':
      return m.persistent ? 'PERSISTENT' : 'NON_PERSISTENT';
    case 'JMSRedelivered':
      return m.deliveryCount > 0;
    case 'JMSExpiration':
      return m.expires;
    case 'JMSXDeliveryCount':
      return m.deliveryCount + 1;
    case 'JMSDestination':
      return m.dest;
    default: {
      const h = m.headers;
      if (h === undefined) return undefined;
      const v = h[name];
      return v === undefined ? undefined : v;
    }
  }
}

/**
 * Compile a JMS selector into a message filter.
 * @throws SelectorError naming the column of the first problem
 */
export function selectorFilter(source: string): (m: BrokerMessage) => boolean {
  const sel = compileSelector(source);
  // One subject object, re-pointed per call: no allocation per evaluated message.
  let current: BrokerMessage | null = null;
  const subject: SelectorSubject = { get: (name) => lookup(current!, name) };
  return (m) => {
    current = m;
    return sel.matches(subject);
  };
}
