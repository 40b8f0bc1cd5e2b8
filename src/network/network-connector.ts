import type { Broker } from '../broker/broker.js';
import type { NetworkConnectorConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { EndpointUri } from '../transport/uri.js';
import { type BridgeState, NetworkBridge } from './bridge.js';

/**
 * A `<networkConnector>`: for `static:(a,b,…)` one bridge per peer, each dialling and redialling on its own; for
 * `masterslave:(m,s)` one bridge that follows whichever of the pair serves. When one bridge of a static list loses
 * its peer, the others redial at once instead of waiting out their back-off: in the tutorial's topology the
 * other peer is the slave that is taking over right now.
 */
export class NetworkConnector {
  readonly bridges: NetworkBridge[] = [];
  private readonly log: Logger;

  constructor(
    private readonly broker: Broker,
    readonly config: NetworkConnectorConfig,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'network', connector: config.name });
    const n = config.network;
    const base = {
      networkTTL: config.networkTTL,
      decreaseNetworkConsumerPriority: config.decreaseNetworkConsumerPriority,
      prefetchSize: config.prefetchSize,
      excluded: config.excludedDestinations,
      dynamicallyIncluded: config.dynamicallyIncludedDestinations,
      staticallyIncluded: config.staticallyIncludedDestinations,
      duplex: config.duplex,
    };
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

  start(): void {
    if (this.config.network.kind === 'multicast') {
      this.log.warn('network connector %s: %s discovery is not part of this release; no bridges', this.config.name, this.config.uri);
      return;
    }
    for (const b of this.bridges) b.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.bridges.map((b) => b.stop()));
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
    const q = [
      'randomize=false',
      `initialReconnectDelay=${Math.min(initialDelay, maxDelay)}`,
      `maxReconnectDelay=${maxDelay}`,
      `useExponentialBackOff=${r.useExponentialBackOff}`,
      `backOffMultiplier=${r.backOffMultiplier}`,
      'maxReconnectAttempts=-1',
      'startupMaxReconnectAttempts=-1',
    ].join('&');
    return `failover:(${eps.map((e) => e.raw).join(',')})?${q}`;
  }
}
