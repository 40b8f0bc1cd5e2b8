import type { TransportConnectorConfig } from '../../config/config.js';
import type { Logger } from '../../log.js';
import { parseMulticastUri } from '../../transport/uri.js';
import { isUnspecified } from '../../transport/discovery/datagram.js';
import { MulticastDiscoveryAgent, resolveInterface } from '../../transport/discovery/multicast.js';

/** A started transport connector, as far as advertising it goes. */
export interface AdvertisedConnector {
  readonly config: TransportConnectorConfig;
  /** The port bound (the kernel's choice for port 0). */
  readonly port: number;
}

/**
 * Advertises the node's transport connectors that have a `discoveryUri`, one agent each, and knows which service
 * URIs are this broker: the node's network connectors ask it so they never bridge to themselves.
 */
export class ConnectorAdvertiser {
  /** A node service: started after the connectors (it advertises their bound ports), stopped before them. */
  readonly name = 'discovery';
  private readonly agents: MulticastDiscoveryAgent[] = [];
  private readonly own = new Set<string>();
  private readonly log: Logger;

  constructor(
    private readonly logger: Logger,
    /** The node's connectors, read at start (after they listen). */
    private readonly connectors: () => readonly AdvertisedConnector[],
  ) {
    this.log = logger.child({ module: 'discovery' });
  }

  /** True for a URI one of this node's connectors advertises. */
  readonly isSelf = (uri: string): boolean => this.own.has(uri);

  /** Start advertising; call once the connectors listen (the advertised port is the bound one). */
  async start(): Promise<void> {
    const planned: { uri: string; agent: MulticastDiscoveryAgent }[] = [];
    for (const c of this.connectors()) {
      if (c.config.discoveryUri === undefined) continue;
      const o = parseMulticastUri(c.config.discoveryUri);
      const ifIp = resolveInterface(o);
      const ep = c.config.endpoint;
      // A peer cannot dial 0.0.0.0: advertise the address datagrams leave from, which peers evidently reach.
      const host = isUnspecified(ep.host) ? ifIp : ep.host;
      const uri = `${ep.scheme}://${host.includes(':') ? `[${host}]` : host}:${c.port}`;
      if (/^127\.|^localhost$|^::1$/.test(host) && !ifIp.startsWith('127.')) {
        this.log.warn(
          { connector: c.config.name, uri, interface: ifIp },
          'connector %s listens on %s only but is advertised on %s: brokers on other machines cannot reach it; listen on 0.0.0.0 or that address',
          c.config.name,
          host,
          ifIp,
        );
      }
      this.own.add(uri);
      planned.push({ uri, agent: new MulticastDiscoveryAgent(o, { advertise: uri, isSelf: this.isSelf }, this.logger) });
    }
    for (const p of planned) {
      this.agents.push(p.agent);
      await p.agent.start();
    }
  }

  /** Send `dead` for every advertised connector and close the sockets. */
  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
  }
}
