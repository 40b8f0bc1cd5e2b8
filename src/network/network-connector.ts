import type { Broker } from '../broker/broker.js';
import type { NetworkConnectorConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import { type EndpointUri, multicastOptions, parseEndpointUri } from '../transport/uri.js';
import { type BridgeOptions, type BridgeState, NetworkBridge } from './bridge.js';
import { MulticastDiscoveryAgent } from '../transport/discovery/multicast.js';
import type { TlsClientOptions } from '../transport/tls.js';

/**
 * Redial limits of a bridge to a discovered peer. Short: the peer was heard a moment ago, and when it is gone for
 * good discovery drops it and closes the bridge (ActiveMQ instead suppresses a failed peer for seconds).
 */
const DISCOVERED_INITIAL_RECONNECT_DELAY_MS = 100;
const DISCOVERED_MAX_RECONNECT_DELAY_MS = 1000;

/**
 * A `<networkConnector>`: for `static:(a,b,…)` one bridge per peer, each dialling and redialling on its own; for
 * `masterslave:(m,s)` one bridge that follows whichever of the pair serves. When one bridge of a static list loses
 * its peer, the others redial at once instead of waiting out their back-off: in the tutorial's topology the
 * other peer is the slave that is taking over right now.
 *
 * For `multicast://<group>`: a bridge to every broker heard on the group (except this one), closed when that broker
 * says it stopped or falls silent, and made again when it comes back.
 */
export class NetworkConnector {
  readonly bridges: NetworkBridge[] = [];
  private readonly log: Logger;
  private readonly base: Omit<BridgeOptions, 'name' | 'url' | 'peer'>;
  private agent: MulticastDiscoveryAgent | null = null;
  /** Bridges to discovered peers, by advertised URI. */
  private readonly discovered = new Map<string, NetworkBridge>();
  /** Advertised URIs this connector cannot bridge to (not tcp://), each logged once. */
  private readonly ignored = new Set<string>();
  private stopped = false;

  constructor(
    private readonly broker: Broker,
    readonly config: NetworkConnectorConfig,
    private readonly logger: Logger,
    /** URIs that are this broker (its own advertisements): never bridged to. */
    private readonly isSelf: (uri: string) => boolean = () => false,
    /** ssl:// peers: the broker's `<sslContext>` as a client presents it. */
    tls?: TlsClientOptions,
  ) {
    this.log = logger.child({ module: 'network', connector: config.name });
    const n = config.network;
    const base = (this.base = {
      networkTTL: config.networkTTL,
      decreaseNetworkConsumerPriority: config.decreaseNetworkConsumerPriority,
      prefetchSize: config.prefetchSize,
      excluded: config.excludedDestinations,
      dynamicallyIncluded: config.dynamicallyIncludedDestinations,
      staticallyIncluded: config.staticallyIncludedDestinations,
      duplex: config.duplex,
      user: config.userName,
      password: config.password,
      tls,
    });
    if (n.kind === 'static') {
      for (const ep of n.endpoints) {
        const b = new NetworkBridge(broker, { ...base, name: `${config.name}@${ep.raw}`, peer: ep.raw, url: this.failoverUrl([ep], false) }, logger);
        b.onPeerLost = () => this.peerLost(b);
        this.bridges.push(b);
      }
    } else if (n.kind === 'masterslave') {
      this.bridges.push(new NetworkBridge(broker, { ...base, name: config.name, peer: n.endpoints.map((e) => e.raw).join(','), url: this.failoverUrl(n.endpoints, true) }, logger));
    }
  }

  /** Start the bridges, or for multicast the discovery that makes them. @throws ConfigError for a bad interface */
  async start(): Promise<void> {
    const n = this.config.network;
    if (n.kind === 'multicast') {
      const agent = new MulticastDiscoveryAgent(multicastOptions(n, this.config.uri), { advertise: null, isSelf: this.isSelf }, this.logger);
      agent.on('peer-up', (uri) => this.bridgeTo(uri));
      agent.on('peer-down', (uri, why) => this.unbridge(uri, why));
      agent.on('peer-alive', (uri) => this.discovered.get(uri)?.redialNow());
      this.agent = agent;
      await agent.start();
      return;
    }
    for (const b of this.bridges) b.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.agent?.stop();
    this.discovered.clear();
    await Promise.all(this.bridges.map((b) => b.stop()));
  }

  /** A broker was heard on the group: bridge to it. */
  private bridgeTo(uri: string): void {
    if (this.stopped || this.discovered.has(uri)) return;
    let ep: EndpointUri;
    try {
      ep = parseEndpointUri(uri);
    } catch {
      return; // the agent only reports URIs that parse
    }
    if (ep.scheme === 'stomp') {
      if (!this.ignored.has(uri)) this.log.info({ peer: uri }, 'network connector %s: %s is not a tcp:// or ssl:// connector; not bridged', this.config.name, uri);
      this.ignored.add(uri);
      return;
    }
    const r = this.config.reconnect;
    const url = failoverUrl([ep], {
      initialReconnectDelayMs: Math.min(r.initialReconnectDelayMs, DISCOVERED_INITIAL_RECONNECT_DELAY_MS),
      maxReconnectDelayMs: Math.min(r.maxReconnectDelayMs, DISCOVERED_MAX_RECONNECT_DELAY_MS),
      useExponentialBackOff: r.useExponentialBackOff,
      backOffMultiplier: r.backOffMultiplier,
    });
    const b = new NetworkBridge(this.broker, { ...this.base, name: `${this.config.name}@${uri}`, peer: uri, url }, this.logger);
    this.discovered.set(uri, b);
    this.bridges.push(b);
    this.log.info({ peer: uri }, 'network connector %s: found %s; bridging', this.config.name, uri);
    b.start();
  }

  /** A discovered broker stopped or fell silent: close its bridge (its network consumers give their messages back). */
  private unbridge(uri: string, why: 'dead' | 'silent'): void {
    const b = this.discovered.get(uri);
    if (b === undefined) return;
    this.discovered.delete(uri);
    this.bridges.splice(this.bridges.indexOf(b), 1);
    this.log.info({ peer: uri, why }, 'network connector %s: %s %s; bridge closed', this.config.name, uri, why === 'dead' ? 'stopped' : 'fell silent');
    void b.stop();
  }

  state(): BridgeState[] {
    return this.bridges.map((b) => b.state());
  }

  private peerLost(lost: NetworkBridge): void {
    for (const b of this.bridges) if (b !== lost) b.redialNow();
  }

  /** The peer connection: a failover connection with the connector's back-off, which never gives up. */
  private failoverUrl(eps: EndpointUri[], masterSlave: boolean): string {
    const r = this.config.reconnect;
    // A master/slave pair is back within a second or two (the standby retries its lock every 200 ms): try again
    // soon and never wait out a long back-off, so the bridge is back before its forwards are given up on.
    const maxDelay = masterSlave ? Math.min(r.maxReconnectDelayMs, 1000) : r.maxReconnectDelayMs;
    const initialDelay = masterSlave ? Math.min(r.initialReconnectDelayMs, 100) : r.initialReconnectDelayMs;
    return failoverUrl(eps, { ...r, initialReconnectDelayMs: initialDelay, maxReconnectDelayMs: maxDelay });
  }
}

function failoverUrl(eps: EndpointUri[], r: NetworkConnectorConfig['reconnect']): string {
  const q = [
    'randomize=false',
    `initialReconnectDelay=${Math.min(r.initialReconnectDelayMs, r.maxReconnectDelayMs)}`,
    `maxReconnectDelay=${r.maxReconnectDelayMs}`,
    `useExponentialBackOff=${r.useExponentialBackOff}`,
    `backOffMultiplier=${r.backOffMultiplier}`,
    'maxReconnectAttempts=-1',
    'startupMaxReconnectAttempts=-1',
  ].join('&');
  return `failover:(${eps.map((e) => e.raw).join(',')})?${q}`;
}
