import type { Broker } from '../broker/broker.js';
import type { FerryError } from '../errors.js';
import type { Elector } from '../ha/replicated/elector.js';
import type { ReplicatedStore } from '../ha/replicated/replicated-store.js';
import type { SharedStoreLock } from '../ha/shared-store-lock.js';
import type { Logger } from '../log.js';
import type { NetworkConnector } from '../network/network-connector.js';
import type { TcpTransportServer } from '../transport/tcp-server.js';
import { type Service, stoppedError } from './service.js';

/**
 * The store and the broker core. With a LevelDB store this is also the master/slave lock: opening the store takes
 * LevelDB's LOCK, so a standby waits right here, before anything else of the node exists, and a master publishes
 * master.json and starts its keep-alive before the connectors after it open.
 */
export class StoreService implements Service {
  readonly name = 'store';

  constructor(
    private readonly broker: Broker,
    private readonly lock: SharedStoreLock | null,
    private readonly log: Logger,
    private readonly onLost: (err: FerryError) => void,
  ) {}

  async start(signal: AbortSignal): Promise<void> {
    let t0 = Date.now();
    const open = (): Promise<{ recovered: number }> => {
      t0 = Date.now();
      return this.broker.start();
    };
    const { recovered } = this.lock ? await this.lock.acquire(open, signal) : await open();
    this.log.info({ recovered, ms: Date.now() - t0 }, 'store open: %d persistent messages recovered', recovered);
    if (this.lock) await this.lock.hold(signal, this.onLost);
  }

  async stop(): Promise<void> {
    this.lock?.release();
    // Closing the store releases LevelDB's LOCK: a standby takes over from here.
    await this.broker.stop();
  }
}

/** A transport connector: its listener opens last and closes first, with its clients. */
export class ConnectorService implements Service {
  readonly name: string;

  constructor(private readonly connector: TcpTransportServer) {
    this.name = `connector ${connector.name}`;
  }

  async start(signal: AbortSignal): Promise<void> {
    await this.connector.start();
    // A stop that arrived while the socket was binding must not leave it listening.
    if (signal.aborted) {
      await this.connector.stop();
      throw stoppedError(this.name);
    }
  }

  stop(): Promise<void> {
    return this.connector.stop();
  }
}

/** A network connector: its bridges dial out once the node serves, and stop before the listeners close. */
export class NetworkConnectorService implements Service {
  readonly name: string;

  constructor(private readonly connector: NetworkConnector) {
    this.name = `network connector ${connector.config.name}`;
  }

  start(): Promise<void> {
    return this.connector.start(); // multicast: rejects when the interface cannot be used
  }

  stop(): Promise<void> {
    return this.connector.stop();
  }
}

/**
 * The replicated LevelDB store and the broker core: the node joins its ZooKeeper group and stays here, a replica
 * with no connector open, until it is elected master and a quorum holds the log; then the services after it
 * (the client connectors, bridges) start. Losing mastership halts the node.
 */
export class ReplicatedStoreService implements Service {
  readonly name = 'store';

  constructor(
    private readonly broker: Broker,
    private readonly store: ReplicatedStore,
    readonly elector: Elector,
    private readonly log: Logger,
    onLost: (err: FerryError) => void,
  ) {
    elector.onLost = onLost;
  }

  async start(signal: AbortSignal): Promise<void> {
    const open = async (): Promise<void> => {
      const t0 = Date.now();
      const { recovered } = await this.broker.start();
      this.log.info({ recovered, ms: Date.now() - t0 }, 'store open: %d persistent messages recovered', recovered);
    };
    await this.elector.run(this.store, open, signal);
  }

  async stop(): Promise<void> {
    // The broker closes the store (its last writes still go to the replicas), then the node leaves the group.
    await this.broker.stop();
    await this.elector.stop();
  }
}
