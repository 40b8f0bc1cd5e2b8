/** A destination's settings, as `<destinationPolicy>` gives them (parsed in config/policy.ts, applied by broker/policies.ts). */

/** Where a destination's dead messages go. */
export type DeadLetterStrategy =
  | { kind: 'shared'; queue: string }
  | { kind: 'individual'; queuePrefix: string; topicPrefix: string; useQueueForQueueMessages: boolean };

/**
 * One `<policyEntry queue="ORDERS.>" …>`: settings for the destinations its pattern matches. `maximumRedeliveries`
 * and `redeliveryDelay` live on ActiveMQ's redelivery plugin; ferrymq takes them here too, next to the DLQ they feed.
 */
export interface PolicyEntry {
  kind: 'queue' | 'topic';
  /** A destination name, with `*` and `>` wildcards. */
  pattern: string;
  /** Memory this destination may hold before its producers are held (non-persistent) or it pages (persistent). */
  memoryLimitBytes?: number;
  maximumRedeliveries?: number;
  /** Wait before a NACKed or rolled-back message is delivered again, ms. */
  redeliveryDelayMs?: number;
  deadLetterStrategy?: DeadLetterStrategy;
}
