import { Broker } from '../broker/broker.js';
import type { BrokerConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import { LevelStore } from '../store/level-store.js';
import { MemoryStore } from '../store/memory-store.js';
import type { MessageStore } from '../store/store.js';
import { NetworkConnector } from '../network/network-connector.js';
import { STOMP_PROTOCOL } from '../transport/stomp/connection.js';
import { NATIVE_PROTOCOL, TcpTransportServer } from '../transport/tcp-server.js';
import { VERSION } from '../version.js';

/**
 * One ferrymq node: the broker core, its store and its transport connectors, started and stopped together.
 * Network connectors, master/slave locking and the web console hang off this class as they arrive.
 */
export class FerryNode {
  readonly broker: Broker;
  readonly connectors: TcpTransportServer[];
  readonly networkConnectors: NetworkConnector[];
  private readonly log: Logger;
  private state: 'new' | 'starting' | 'started' | 'stopping' | 'stopped' = 'new';
  private stopping: Promise<void> | null = null;

  constructor(
    readonly config: BrokerConfig,
    logger: Logger,
    store?: MessageStore,
  ) {
    this.log = logger.child({ module: 'node' });
    const s = store ?? (config.store.kind === 'levelDB' ? new LevelStore(config.store.directory) : new MemoryStore());
    this.broker = new Broker({
      name: config.brokerName,
      store: s,
      logger,
      maximumRedeliveries: config.maximumRedeliveries,
      memoryLimitBytes: config.systemUsage.memoryLimitBytes,
      sendFailIfNoSpaceAfterTimeoutMs: config.systemUsage.sendFailIfNoSpaceAfterTimeoutMs,
      policies: config.policies,
    });
    this.connectors = config.transportConnectors.map((tc) => {
      const protocol = tc.endpoint.scheme === 'stomp' ? STOMP_PROTOCOL : tc.endpoint.scheme === 'tcp' ? NATIVE_PROTOCOL : null;
      if (protocol === null) throw new Error(`transport connector ${tc.name}: scheme ${tc.endpoint.scheme}:// is not supported yet`);
      return new TcpTransportServer(tc.name, tc.endpoint, tc.options, this.broker, logger, protocol);
    });
    this.networkConnectors = config.networkConnectors.map((nc) => new NetworkConnector(this.broker, nc, logger));
  }

  /** Open the store, recover, then open the connectors. On failure, whatever was started is stopped. */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'starting';
    const t0 = Date.now();
    this.log.info(
      { brokerName: this.config.brokerName, version: VERSION, store: this.config.store.kind, directory: this.config.store.directory, config: this.config.source },
      'ferrymq %s starting broker %s (store %s at %s)',
      VERSION,
      this.config.brokerName,
      this.config.store.kind,
      this.config.store.directory,
    );
    try {
      const { recovered } = await this.broker.start();
      this.log.info({ recovered, ms: Date.now() - t0 }, 'store open: %d persistent messages recovered', recovered);
      for (const c of this.connectors) await c.start();
      for (const n of this.networkConnectors) n.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.state = 'started';
    const wc = this.config.webConsole;
    if (wc.enabled) {
      // Said plainly, so nobody waits for a page on 8161 that this release does not serve.
      this.log.info({ host: wc.host, port: wc.port }, 'web console configured on %s:%d but not part of this release', wc.host, wc.port);
    }
    this.log.info({ brokerName: this.config.brokerName, ms: Date.now() - t0 }, 'broker %s started', this.config.brokerName);
  }

  /** Stop accepting, close connections, finish in-flight writes, close the store. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.state = 'stopping';
    this.stopping = (async () => {
      for (const n of this.networkConnectors) await n.stop().catch((err) => this.log.error({ err }, 'network connector stop failed'));
      for (const c of this.connectors) await c.stop().catch((err) => this.log.error({ err }, 'connector stop failed'));
      await this.broker.stop();
      this.state = 'stopped';
      this.log.info({ brokerName: this.config.brokerName }, 'broker %s stopped', this.config.brokerName);
    })();
    return this.stopping;
  }
}
