import type { EventEmitter } from 'node:events';

/** What a discovery agent reports (ActiveMQ's DiscoveryListener: onServiceAdd / onServiceRemove). */
export interface DiscoveryEvents {
  /** A broker advertising `uri` appeared (or came back after being dropped). */
  'peer-up': [uri: string, brokerName: string | undefined];
  /** It said it stopped, or fell silent for the dead-peer timeout. */
  'peer-down': [uri: string, why: 'dead' | 'silent'];
  /** A known peer advertised again: one waiting out a redial back-off can be dialled now. */
  'peer-alive': [uri: string];
}

/**
 * Finds brokers without a list of addresses (ActiveMQ's DiscoveryAgent). start() begins advertising (if the agent
 * advertises anything) and listening; stop() withdraws the advertisement and forgets every peer without reporting
 * them down. Both idempotent.
 */
export interface DiscoveryAgent extends EventEmitter<DiscoveryEvents> {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The service URIs of the peers known now. */
  peers(): string[];
}
