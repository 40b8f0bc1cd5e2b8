/**
 * What the broker tells the rest of the node: connections, consumers and destinations coming and going, and
 * messages it gives up on. Network bridges turn consumer events into demand (ActiveMQ's advisory topics play this
 * role there); the web console and metrics read the same events. Emitting is one array check when nobody listens.
 */

/** A consumer as the network and the console see it. */
export interface ConsumerInfo {
  /** Unique in this broker: `<session>:<sid>`. */
  readonly id: string;
  /** Canonical destination (`queue://X`, `topic://X`, wildcards allowed on topics; durable subscriptions name their topic). */
  readonly dest: string;
  readonly selector: string | undefined;
  /** ActiveMQ's consumer.priority: higher first on a queue; network consumers sit below 0. */
  readonly priority: number;
  /** A network bridge's consumer, forwarding to another broker rather than to an application. */
  readonly network: boolean;
  /**
   * Brokers the demand came through, nearest last, not counting this one: empty for a local consumer; for a
   * network consumer the remote consumer's path as its broker advertised it.
   */
  readonly path: readonly string[];
  readonly clientId: string | null;
  /** Durable subscription name, when it is one. */
  readonly durable: string | undefined;
}

export interface ConnectionInfo {
  readonly id: string;
  readonly clientId: string | null;
  readonly remote: string | null;
  /** The user the connection authenticated as, if any. */
  readonly user?: string | null;
}

/** Every broker event and its payload. */
export interface BrokerEventMap {
  connectionOpened: ConnectionInfo;
  connectionClosed: ConnectionInfo;
  consumerAdded: ConsumerInfo;
  consumerRemoved: ConsumerInfo;
  destinationAdded: { dest: string };
  destinationRemoved: { dest: string };
  messageDeadLettered: { id: string; from: string; to: string; reason: string };
  messageExpired: { id: string; dest: string };
}

export type BrokerEventName = keyof BrokerEventMap;
type Listener<K extends BrokerEventName> = (event: BrokerEventMap[K]) => void;

/**
 * A typed, synchronous event bus. Listeners run in registration order inside the emitting call; one that throws is
 * reported to `onListenerError` and does not stop the others or the broker.
 */
export class BrokerEvents {
  private readonly listeners: { [K in BrokerEventName]?: Listener<K>[] } = {};

  constructor(private readonly onListenerError: (err: unknown, event: BrokerEventName) => void = () => {}) {}

  on<K extends BrokerEventName>(event: K, fn: Listener<K>): () => void {
    const list = (this.listeners[event] ??= []) as Listener<K>[];
    list.push(fn);
    return () => this.off(event, fn);
  }

  off<K extends BrokerEventName>(event: K, fn: Listener<K>): void {
    const list = this.listeners[event] as Listener<K>[] | undefined;
    if (list === undefined) return;
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) delete this.listeners[event];
  }

  /** True when someone listens: lets an emitter skip building the payload. */
  has(event: BrokerEventName): boolean {
    return this.listeners[event] !== undefined;
  }

  emit<K extends BrokerEventName>(event: K, payload: BrokerEventMap[K]): void {
    const list = this.listeners[event] as Listener<K>[] | undefined;
    if (list === undefined) return;
    for (const fn of [...list]) {
      try {
        fn(payload);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
  }
}
