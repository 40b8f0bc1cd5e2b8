import { Broker } from '../broker/broker.js';
import type { BrokerConfig } from '../config/config.js';
import { FerryError } from '../errors.js';
import { Elector } from '../ha/replicated/elector.js';
import { ReplicatedStore } from '../ha/replicated/replicated-store.js';
import { SharedStoreLock } from '../ha/shared-store-lock.js';
import type { Logger } from '../log.js';
import type { BrokerInfo, NodeRole } from '../protocol/commands.js';
import { LevelStore } from '../store/level-store.js';
import { MemoryStore } from '../store/memory-store.js';
import type { MessageStore } from '../store/store.js';
import { ConnectorAdvertiser } from '../network/discovery/advertiser.js';
import { NetworkConnector } from '../network/network-connector.js';
import { autoProtocol } from '../transport/auto-detect.js';
import { CONNECT_TIMEOUT_MS } from '../transport/native-connection.js';
import type { NodeRole as ConsoleRole } from '../console/role.js';
import { join } from 'node:path';
import { STOMP_PROTOCOL } from '../transport/stomp/connection.js';
import { NATIVE_PROTOCOL, TcpTransportServer } from '../transport/tcp-server.js';
import { VERSION } from '../version.js';
import { type Service, stoppedError } from './service.js';
import { ConnectorService, NetworkConnectorService, ReplicatedStoreService, StoreService } from './services.js';
import { ConsoleService } from './console-service.js';
import { brokerSecurity, tlsClientOptions, tlsServerOptions } from '../security/security.js';

export type { Service } from './service.js';

/**
 * One ferrymq node: an ordered list of services, started in order and stopped in reverse (ActiveMQ's
 * ServiceSupport/ServiceStopper): the store and core (with a LevelDB store, the master/slave lock), the transport
 * connectors, then the network connectors (bridges), so a slave opens no bridge either. The web console goes
 * first (a standby service): it serves while the node waits for the lock, and stops last. Discovery is added with
 * {@link FerryNode.addService}.
 */
export class FerryNode {
  readonly broker: Broker;
  readonly connectors: TcpTransportServer[];
  readonly networkConnectors: NetworkConnector[];
  /** The shared-store lock, when the store is LevelDB and was not injected. */
  readonly lock: SharedStoreLock | null;
  /** The replicated store's group membership, with `<replicatedLevelDB>`. */
  readonly elector: Elector | null;
  /** Null with `--no-console` / `<webConsole enabled="false"/>`. */
  readonly console: ConsoleService | null;
  private readonly log: Logger;
  private readonly services: Service[] = [];
  /** Services whose start() was called, in order: the ones stop() has to stop. */
  private readonly begun: Service[] = [];
  private readonly abort = new AbortController();
  private state: 'new' | 'starting' | 'started' | 'stopping' | 'stopped' = 'new';
  private starting: Promise<void> | null = null;
  private startCall: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private failure: FerryError | null = null;
  private readonly failedWaiters: ((err: FerryError) => void)[] = [];

  constructor(
    readonly config: BrokerConfig,
    logger: Logger,
    store?: MessageStore,
  ) {
    this.log = logger.child({ module: 'node' });
    const rep = store === undefined ? config.replication : null;
    const replicated = rep ? new ReplicatedStore(config.store.directory, rep.sync, Math.floor(rep.replicas / 2) + 1, logger) : null;
    this.elector = rep
      ? new Elector({ ...rep, brokerName: config.brokerName, directory: config.store.directory, logger })
      : null;
    const s = store ?? replicated ?? (config.store.kind === 'levelDB' ? new LevelStore(config.store.directory) : new MemoryStore());
    this.lock =
      store === undefined && config.store.kind === 'levelDB' && rep === null
        ? new SharedStoreLock({
            directory: config.store.directory,
            brokerName: config.brokerName,
            logger,
            lockAcquireSleepIntervalMs: config.locker.lockAcquireSleepIntervalMs,
            lockKeepAlivePeriodMs: config.locker.lockKeepAlivePeriodMs,
          })
        : null;
    this.broker = new Broker({
      name: config.brokerName,
      store: s,
      logger,
      maximumRedeliveries: config.maximumRedeliveries,
      memoryLimitBytes: config.systemUsage.memoryLimitBytes,
      sendFailIfNoSpaceAfterTimeoutMs: config.systemUsage.sendFailIfNoSpaceAfterTimeoutMs,
      storeLimitBytes: config.systemUsage.storeLimitBytes,
      // A failed write makes the store reopen; should a standby take the store meanwhile, this node stops as on a lost lock.
      onStoreLost: (err) => this.halt(err),
      // Tests that must reach a real ENOSPC set this high, so the disk watch does not refuse first.
      ...(process.env.FERRYMQ_STORE_CHECK_MS ? { storeCheckMs: Number(process.env.FERRYMQ_STORE_CHECK_MS) } : {}),
      policies: config.policies,
      describe: () => this.describe(),
    });
    const security = brokerSecurity(config.security, logger);
    if (security !== null) this.broker.setHooks(security.hooks);
    if (security?.console && config.webConsole.user !== undefined) {
      this.log.warn('<webConsole user password> is not used: the web console logs in with the <simpleAuthenticationPlugin> users');
    }
    this.connectors = config.transportConnectors.map((tc) => {
      const protocol =
        tc.protocol === 'stomp' ? STOMP_PROTOCOL
        : tc.protocol === 'auto' ? autoProtocol({ native: NATIVE_PROTOCOL, stomp: STOMP_PROTOCOL }, tc.protocolDetectionTimeoutMs ?? CONNECT_TIMEOUT_MS)
        : NATIVE_PROTOCOL;
      const tls = tc.tls && config.sslContext !== null ? tlsServerOptions(config.sslContext, tc.needClientAuth) : null;
      try {
        return new TcpTransportServer(tc.name, tc.endpoint, tc.options, this.broker, logger, protocol, tls);
      } catch (err) {
        // node:tls refused the key material (a wrong passphrase, a key that does not fit the certificate, …).
        throw new FerryError('FERRY_CONFIG', `transport connector ${tc.name}: <sslContext> cannot be used: ${(err as Error).message}`, { cause: err });
      }
    });
    // Advertises the connectors with a discoveryUri once they listen; network connectors ask it what is this broker.
    const advertiser = new ConnectorAdvertiser(logger, () => this.connectors.map((c, i) => ({ config: config.transportConnectors[i]!, port: c.port })));
    const bridgeTls = tlsClientOptions(config.sslContext);
    this.networkConnectors = config.networkConnectors.map((nc) => new NetworkConnector(this.broker, nc, logger, advertiser.isSelf, bridgeTls));
    this.addService(
      replicated && this.elector
        ? new ReplicatedStoreService(this.broker, replicated, this.elector, this.log, (err) => this.halt(err))
        : new StoreService(this.broker, this.lock, this.log, (err) => this.halt(err)),
    );
    for (const c of this.connectors) this.addService(new ConnectorService(c));
    this.addService(advertiser);
    for (const n of this.networkConnectors) this.addService(new NetworkConnectorService(n));
    this.console = config.webConsole.enabled
      ? new ConsoleService(security?.console ? { ...config.webConsole, authenticate: security.console } : config.webConsole, {
          broker: this.broker,
          store: config.store,
          role: { role: () => this.consoleRole() },
          connectors: () => this.connectors.map((c) => ({ name: c.name, url: c.url, connections: c.connectionCount })),
          networkConnectors: () => this.networkConnectors.map((n) => ({ name: n.config.name, uri: n.config.uri, bridges: n.state() })),
        }, logger)
      : null;
    // Before the store: a slave waiting for the lock serves the console too, and it is the last thing to stop.
    if (this.console) this.addService(this.console, { standby: true });
  }

  /** The role as the console shows it, with the lock file and, on a slave, who holds it. */
  private consoleRole(): ConsoleRole {
    const r = this.role;
    if (this.elector !== null && (r === 'master' || r === 'slave')) {
      const st = this.elector.status();
      const group = `ZooKeeper group ${this.config.replication?.zkPath ?? ''}`;
      const lags = st.replicas.map((x) => `${x.broker} ${x.state}, lag ${x.lag}`).join('; ') || 'no replica connected';
      return r === 'master'
        ? { kind: 'master', lock: `${group}, epoch ${st.epoch}, quorum ${st.quorum}: ${lags}` }
        : { kind: 'slave', lock: group, holder: st.master };
    }
    const lock = this.lock;
    if ((r === 'slave' || r === 'master') && lock !== null) {
      const file = join(lock.directory, 'LOCK');
      if (r === 'master') return { kind: 'master', lock: file };
      const h = lock.holder;
      return { kind: 'slave', lock: file, holder: h ? `${h.broker} (pid ${h.pid} on ${h.host})` : null };
    }
    return r === 'slave' || r === 'master' ? { kind: 'standalone' } : { kind: r };
  }

  /**
   * Append a service: it starts after every service added before it and stops before them. With `standby`, it
   * goes before the store instead, so it also runs while the node waits for the store lock (the console, which
   * shows "slave, waiting for the lock").
   */
  addService(service: Service, opts: { standby?: boolean } = {}): void {
    if (this.state !== 'new') throw new FerryError('FERRY_INTERNAL', `service ${service.name} added after start`);
    if (opts.standby) this.services.splice(this.services.findIndex((s) => s instanceof StoreService), 0, service);
    else this.services.push(service);
  }

  /** 'slave' while waiting for the store lock; 'master' once it holds it; 'standalone' without a lockable store. */
  get role(): NodeRole | 'starting' | 'stopped' {
    if (this.state === 'stopped' || this.state === 'stopping') return 'stopped';
    if (this.elector !== null) {
      const r = this.elector.role;
      return r === 'master' ? 'master' : r === 'replica' || r === 'electing' ? 'slave' : 'starting';
    }
    if (this.lock === null) return this.state === 'started' ? 'standalone' : 'starting';
    if (this.lock.state === 'waiting') return 'slave';
    return this.lock.state === 'master' ? 'master' : 'starting';
  }

  /** What INFO reports about this node's role. */
  private describe(): Pick<BrokerInfo, 'role' | 'directory' | 'epoch' | 'masterSince' | 'replication'> {
    if (this.elector !== null) {
      const st = this.elector.status();
      return {
        role: 'master',
        directory: this.config.store.directory,
        epoch: st.epoch,
        replication: {
          quorum: st.quorum,
          nodes: this.config.replication?.replicas ?? 0,
          zkSession: st.zkSession,
          replicas: st.replicas.map((r) => ({ broker: r.broker, state: r.state, lag: r.lag })),
        },
      };
    }
    if (this.lock === null) return { role: 'standalone' };
    const h = this.lock.holder;
    return { role: 'master', directory: this.lock.directory, ...(h ? { epoch: h.epoch, masterSince: h.since } : {}) };
  }

  /**
   * Start every service in order. A failure stops what was started and rejects; so does a stop() that arrives
   * meanwhile (FERRY_BROKER_STOPPING), and the node is then not started.
   */
  start(): Promise<void> {
    // Idempotent: a second call shares the first one's outcome.
    this.startCall ??= this.run();
    return this.startCall;
  }

  private async run(): Promise<void> {
    if (this.state !== 'new') throw stoppedError(`broker ${this.config.brokerName}`);
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
    this.starting = this.startServices();
    try {
      await this.starting;
      if (this.stopping) throw stoppedError(`broker ${this.config.brokerName}`);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.state = 'started';
    const role = this.role;
    this.log.info({ brokerName: this.config.brokerName, role, ms: Date.now() - t0 }, 'broker %s started (%s)', this.config.brokerName, role);
  }

  private async startServices(): Promise<void> {
    const signal = this.abort.signal;
    for (const s of this.services) {
      if (signal.aborted) throw stoppedError(`broker ${this.config.brokerName}`);
      this.begun.push(s);
      await s.start(signal);
    }
  }

  /**
   * Cancel a start in progress (a standby stops waiting for the lock at once), then stop the started services in
   * reverse order: connectors close their listeners and clients before the store closes. Idempotent.
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.state = 'stopping';
    this.abort.abort();
    this.stopping = (async () => {
      if (this.starting) await this.starting.catch(() => {});
      for (const s of this.begun.splice(0).reverse()) {
        await s.stop().catch((err: unknown) => this.log.error({ err, service: s.name }, 'stopping %s failed', s.name));
      }
      this.state = 'stopped';
      this.log.info({ brokerName: this.config.brokerName }, 'broker %s stopped', this.config.brokerName);
      if (this.failure) for (const w of this.failedWaiters.splice(0)) w(this.failure);
    })();
    return this.stopping;
  }

  /**
   * Resolves once the node has stopped itself because it can no longer serve (it lost the store lock); the
   * process should then exit non-zero. Never resolves otherwise.
   */
  whenFailed(): Promise<FerryError> {
    const failed = this.failure;
    if (failed !== null && this.state === 'stopped') return Promise.resolve(failed);
    return new Promise((resolve) => this.failedWaiters.push(resolve));
  }

  /** Stop serving at once: another node may be master of this store now. */
  private halt(err: FerryError): void {
    if (this.stopping) return;
    this.failure = err;
    this.log.error({ err, code: err.code }, '%s; stopping now', err.message);
    void this.stop();
  }
}
