import { isWildcard, parseDestination, wildcardMatch } from '../model/destination.js';
import { Topic, type TopicSubscriber } from './topic.js';

const TOPIC_PREFIX = 'topic://';

/**
 * The broker's topics and who subscribes to them. A subscriber to a wildcard (`PRICE.>`, `PRICE.*.NYSE`) is
 * registered on every topic its pattern matches, those that exist now and those created later, so a publish
 * only ever looks at its own topic's subscriber set.
 */
export class TopicRegistry {
  private readonly topics = new Map<string, Topic>();
  /** Wildcard subscribers, with their pattern (the name after `topic://`). */
  private readonly wildcards = new Map<TopicSubscriber, string>();
  /** Other subscribers, with their topic. */
  private readonly plain = new Map<TopicSubscriber, string>();

  constructor(private readonly memoryLimitFor: (canonical: string) => number) {}

  /** The topic, created on first use with the wildcard subscribers that match it. */
  get(canonical: string): Topic {
    let t = this.topics.get(canonical);
    if (t === undefined) {
      t = new Topic(canonical, this.memoryLimitFor(canonical));
      const name = canonical.slice(TOPIC_PREFIX.length);
      for (const [s, pattern] of this.wildcards) if (wildcardMatch(pattern, name)) t.subscribers.add(s);
      this.topics.set(canonical, t);
    }
    return t;
  }

  find(canonical: string): Topic | undefined {
    return this.topics.get(canonical);
  }

  delete(canonical: string): void {
    this.topics.delete(canonical);
  }

  [Symbol.iterator](): IterableIterator<[string, Topic]> {
    return this.topics.entries();
  }

  /** Register a subscriber on `canonical` (`topic://NAME`, NAME possibly a wildcard). */
  attach(subscriber: TopicSubscriber, canonical: string): void {
    const { name } = parseDestination(canonical);
    if (!isWildcard(name)) {
      this.get(canonical).subscribers.add(subscriber);
      this.plain.set(subscriber, canonical);
      return;
    }
    this.wildcards.set(subscriber, name);
    for (const t of this.topics.values()) {
      if (wildcardMatch(name, t.canonical.slice(TOPIC_PREFIX.length))) t.subscribers.add(subscriber);
    }
  }

  /** Remove a subscriber from every topic it was registered on. */
  detach(subscriber: TopicSubscriber): void {
    if (this.wildcards.delete(subscriber)) {
      for (const t of this.topics.values()) t.subscribers.delete(subscriber);
      return;
    }
    const canonical = this.plain.get(subscriber);
    if (canonical === undefined) return;
    this.plain.delete(subscriber);
    this.topics.get(canonical)?.subscribers.delete(subscriber);
  }
}
