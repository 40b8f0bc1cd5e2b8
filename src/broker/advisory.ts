import { packValue } from '../protocol/codec.js';
import { BodyType } from '../protocol/commands.js';
import { wildcardMatch } from '../model/destination.js';
import type { BrokerEvents, ConsumerInfo } from './events.js';
import type { BrokerMessage } from '../model/message.js';
import type { Queue } from './queue.js';

/** ActiveMQ's advisory topic prefix; consumer advisories live under `<prefix>Consumer.Queue.<name>` / `.Topic.<name>`. */
export const ADVISORY_PREFIX = 'ActiveMQ.Advisory.';
const CONSUMER_PREFIX = `${ADVISORY_PREFIX}Consumer.`;

/**
 * A consumer advisory's body (msgpack). `path` lists the brokers the demand passed through, nearest last, this
 * broker included: a bridge ignores demand whose path holds its own broker or is longer than networkTTL.
 * `sync` ends the snapshot a new advisory subscriber gets first: after it, only changes follow.
 */
export type ConsumerAdvisory =
  | {
      op: 'add' | 'remove';
      id: string;
      dest: string;
      selector?: string;
      priority: number;
      network: boolean;
      path: string[];
      broker: string;
    }
  | { op: 'sync'; broker: string };

/** The advisory topic for a consumer of `dest` (`queue://X` → `ActiveMQ.Advisory.Consumer.Queue.X`). */
export function consumerAdvisoryTopic(dest: string): string {
  const i = dest.indexOf('://');
  const kind = dest.slice(0, i);
  const name = dest.slice(i + 3);
  return `topic://${CONSUMER_PREFIX}${kind === 'topic' ? 'Topic' : 'Queue'}.${name}`;
}

/** True for a topic name (after `topic://`) under the advisory prefix. */
export function isAdvisory(name: string): boolean {
  return name.startsWith(ADVISORY_PREFIX);
}

/**
 * ActiveMQ's consumer advisories, fed by the broker's consumer events: every consumer added or removed is published
 * (non-persistent) on its advisory topic, and a new subscriber to an advisory topic first gets every current
 * consumer that matches it, then a `sync` marker. Network bridges learn remote demand from them. Nothing is built
 * while nobody subscribes to an advisory topic.
 */
export class ConsumerAdvisories {
  private readonly live = new Map<string, ConsumerInfo>();
  /** Advisory subscriptions open now. */
  listeners = 0;

  private nextId = 1;

  constructor(
    private readonly brokerName: string,
    /** This broker process's id: advisory message ids must not repeat after a restart (clients drop repeats). */
    private readonly brokerId: string,
    events: BrokerEvents,
    private readonly publish: (topic: string, body: Uint8Array) => void,
  ) {
    events.on('consumerAdded', (c) => {
      if (c.dest.startsWith(`topic://${ADVISORY_PREFIX}`) || c.dest.startsWith('temp-queue://')) return;
      this.live.set(c.id, c);
      if (this.listeners > 0) this.publish(consumerAdvisoryTopic(c.dest), this.encode('add', c));
    });
    events.on('consumerRemoved', (c) => {
      if (!this.live.delete(c.id)) return;
      if (this.listeners > 0) this.publish(consumerAdvisoryTopic(c.dest), this.encode('remove', c));
    });
  }

  /** Every consumer now, advisory and temporary-queue consumers left out. */
  consumers(): ConsumerInfo[] {
    return [...this.live.values()];
  }

  /** A new subscriber on `pattern` (a topic name, wildcards allowed): give its buffer the current consumers, then `sync`. */
  replay(queue: Queue, pattern: string): void {
    for (const c of this.live.values()) {
      const topic = consumerAdvisoryTopic(c.dest);
      if (wildcardMatch(pattern, topic.slice('topic://'.length))) queue.enqueue(message(this.id(), topic, this.encode('add', c)));
    }
    const sync: ConsumerAdvisory = { op: 'sync', broker: this.brokerName };
    queue.enqueue(message(this.id(), `topic://${CONSUMER_PREFIX}Sync`, packValue(sync)));
  }

  private id(): string {
    return `ID:${this.brokerId}:advisory:${this.nextId++}`;
  }

  private encode(op: 'add' | 'remove', c: ConsumerInfo): Uint8Array {
    const a: ConsumerAdvisory = {
      op,
      id: c.id,
      dest: c.dest,
      priority: c.priority,
      network: c.network,
      path: [...c.path, this.brokerName],
      broker: this.brokerName,
    };
    if (c.selector !== undefined) a.selector = c.selector;
    return packValue(a);
  }
}

function message(id: string, dest: string, body: Uint8Array): BrokerMessage {
  return {
    seq: 0,
    id,
    dest,
    body,
    bt: BodyType.Value,
    persistent: false,
    priority: 4,
    timestamp: Date.now(),
    expires: 0,
    deliveryCount: 0,
  };
}
