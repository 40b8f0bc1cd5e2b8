import type { PolicyEntry } from '../model/policy.js';
import { parseDestination, wildcardMatch } from '../model/destination.js';
import type { QueueSettings } from './queue.js';

/** ActiveMQ's dead-letter queue. */
export const DLQ = 'queue://ActiveMQ.DLQ';

/**
 * Resolves `<destinationPolicy>` entries for a destination: the first entry whose pattern matches wins, and what it
 * leaves unset comes from the broker's defaults. A durable subscription's queue follows its topic's policy.
 */
export class Policies {
  constructor(
    private readonly entries: readonly PolicyEntry[],
    readonly defaults: QueueSettings,
    /** The topic a `durable://…` queue belongs to. */
    private readonly topicOf: (canonical: string) => string | undefined,
  ) {}

  entryFor(canonical: string): PolicyEntry | undefined {
    if (this.entries.length === 0) return undefined;
    const name = canonical.startsWith('durable://') ? this.topicOf(canonical) : canonical;
    if (name === undefined) return undefined;
    const { kind, name: bare } = parseDestination(name);
    return this.entries.find((p) => p.kind === kind && (p.pattern === bare || wildcardMatch(p.pattern, bare)));
  }

  settingsFor(canonical: string): QueueSettings {
    const p = this.entryFor(canonical);
    if (p === undefined) return this.defaults;
    return {
      maximumRedeliveries: p.maximumRedeliveries ?? this.defaults.maximumRedeliveries,
      redeliveryDelayMs: p.redeliveryDelayMs ?? this.defaults.redeliveryDelayMs,
      memoryLimitBytes: p.memoryLimitBytes ?? this.defaults.memoryLimitBytes,
    };
  }

  /** The dead-letter queue for messages of `dest`: its deadLetterStrategy, or ActiveMQ.DLQ. */
  deadLetterQueueFor(dest: string): string {
    const s = this.entryFor(dest)?.deadLetterStrategy;
    if (s === undefined) return DLQ;
    if (s.kind === 'shared') return `queue://${s.queue}`;
    const { kind, name } = parseDestination(dest);
    return `queue://${kind === 'queue' ? s.queuePrefix : s.topicPrefix}${name}`;
  }
}
