import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import { ConfigError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { DEAD_PEER_INTERVALS, type MulticastOptions } from '../uri.js';
import type { DiscoveryAgent, DiscoveryEvents } from './agent.js';
import { formatAdvertisement, parseAdvertisement } from './datagram.js';

export interface MulticastAgentOptions {
  /** The service URI to advertise (a dialable host and the bound port); null listens only. */
  advertise: string | null;
  /** More URIs that are this broker (its other connectors' advertisements): never reported as peers. */
  isSelf?: (uri: string) => boolean;
}

/** For agents with nobody to tell (a client's): logs nothing, and loads no logging library. */
const NO_LOG = new Proxy({}, { get: (_t, k) => (k === 'child' ? () => NO_LOG : () => {}) }) as Logger;

interface Peer {
  lastSeen: number;
  brokerName: string;
}

/**
 * ActiveMQ-compatible multicast discovery (MulticastDiscoveryAgent): one UDP socket on the group's port, joined and
 * sending on one chosen IPv4 interface only (127.0.0.1 unless configured; the kernel never picks), advertising every
 * keepAliveInterval, dropping peers silent for ten intervals. Malformed datagrams are counted and logged at debug;
 * nothing a datagram says can throw out of here.
 */
export class MulticastDiscoveryAgent extends EventEmitter<DiscoveryEvents> implements DiscoveryAgent {
  private socket: Socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly known = new Map<string, Peer>();
  private stopped = false;
  private starting: Promise<void> | null = null;
  /** Datagrams that were not an advertisement. */
  malformed = 0;
  /** The IPv4 address joined and sent on, once started. */
  interfaceAddress: string | null = null;
  private readonly log: Logger;
  /** Peers come and go at info for a listening agent (a network connector); an advertiser only answers them. */
  private readonly level: 'info' | 'debug';

  constructor(
    readonly options: MulticastOptions,
    private readonly agent: MulticastAgentOptions,
    logger: Logger = NO_LOG,
  ) {
    super();
    this.log = logger.child({ module: 'discovery', group: options.group });
    this.level = agent.advertise === null ? 'info' : 'debug';
  }

  /** Resolve the interface, bind, join, and advertise at once. @throws ConfigError for an unknown interface */
  start(): Promise<void> {
    this.starting ??= this.open();
    return this.starting;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.starting?.catch(() => {});
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const s = this.socket;
    this.socket = null;
    this.known.clear();
    if (s === null) return;
    // Tell the peers now rather than leave them to time us out (ActiveMQ's `dead` packet).
    if (this.agent.advertise !== null) await this.send(s, false);
    try {
      s.dropMembership(this.options.address, this.interfaceAddress!);
    } catch {
      // closing leaves the group anyway
    }
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  peers(): string[] {
    return [...this.known.keys()];
  }

  private async open(): Promise<void> {
    const o = this.options;
    const ifIp = resolveInterface(o);
    this.interfaceAddress = ifIp;
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('message', (buf) => this.onDatagram(buf));
    s.on('error', (err) => this.log.warn({ err: err.message }, 'multicast discovery socket error: %s', err.message));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      // Bound to the group address (not 0.0.0.0) where the OS allows it: unicast noise to the port never arrives.
      s.bind({ port: o.port, address: process.platform === 'win32' ? undefined : o.address }, () => {
        s.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      s.close();
      throw err;
    });
    // Only after bind: before it the setters throw EBADF, and addMembership would bind an ephemeral port.
    try {
      s.addMembership(o.address, ifIp);
      s.setMulticastInterface(ifIp);
      s.setMulticastTTL(o.timeToLive);
      s.setMulticastLoopback(true); // peers on this host, the whole point of the loopback default
    } catch (err) {
      s.close();
      throw new ConfigError(`multicast discovery on ${o.address}:${o.port} via ${ifIp}: ${(err as Error).message}`, { cause: err });
    }
    s.unref();
    if (this.stopped) {
      s.close();
      return;
    }
    this.socket = s;
    this.timer = setInterval(() => this.tick(), o.keepAliveIntervalMs);
    this.timer.unref();
    this.log.info(
      { address: o.address, port: o.port, interface: ifIp, ttl: o.timeToLive, advertise: this.agent.advertise },
      this.agent.advertise !== null ? 'multicast discovery: advertising %s on group %s via %s' : 'multicast discovery: listening on group %s via %s',
      ...(this.agent.advertise !== null ? [this.agent.advertise, o.group, ifIp] : [o.group, ifIp]),
    );
    if (this.agent.advertise !== null) void this.send(s, true);
  }

  private tick(): void {
    const s = this.socket;
    if (s === null) return;
    if (this.agent.advertise !== null) void this.send(s, true);
    const deadline = Date.now() - this.options.keepAliveIntervalMs * DEAD_PEER_INTERVALS;
    for (const [uri, p] of this.known) {
      if (p.lastSeen >= deadline) continue;
      this.known.delete(uri);
      this.log[this.level]({ peer: uri }, 'multicast discovery: %s silent for %d ms; dropped', uri, Date.now() - p.lastSeen);
      this.emit('peer-down', uri, 'silent');
    }
  }

  private send(s: Socket, alive: boolean): Promise<void> {
    const buf = formatAdvertisement(this.options.group, alive, this.agent.advertise!);
    return new Promise((resolve) => {
      s.send(buf, this.options.port, this.options.address, (err) => {
        if (err && !this.stopped) this.log.warn({ err: err.message }, 'multicast discovery: send failed: %s', err.message);
        resolve();
      });
    });
  }

  private onDatagram(buf: Buffer): void {
    if (this.socket === null) return;
    const r = parseAdvertisement(buf);
    if (!r.ok) {
      this.malformed++;
      this.log.debug({ malformed: this.malformed, bytes: buf.length }, 'multicast discovery: ignored a datagram: %s', r.reason);
      return;
    }
    const ad = r.ad;
    if (ad.group !== this.options.group) return;
    if (ad.uri === this.agent.advertise || this.agent.isSelf?.(ad.uri) === true) return;
    const p = this.known.get(ad.uri);
    if (!ad.alive) {
      if (p === undefined) return;
      this.known.delete(ad.uri);
      this.log[this.level]({ peer: ad.uri }, 'multicast discovery: %s stopped', ad.uri);
      this.emit('peer-down', ad.uri, 'dead');
      return;
    }
    if (p !== undefined) {
      p.lastSeen = Date.now();
      this.emit('peer-alive', ad.uri);
      return;
    }
    this.known.set(ad.uri, { lastSeen: Date.now(), brokerName: ad.brokerName });
    this.log[this.level]({ peer: ad.uri }, 'multicast discovery: found %s', ad.uri);
    // Answer a newcomer at once so it need not wait a keep-alive interval to find us (ActiveMQ does the same).
    if (this.agent.advertise !== null) void this.send(this.socket, true);
    this.emit('peer-up', ad.uri, ad.brokerName);
  }
}

/**
 * The IPv4 address to join and send on: the `interface` option (checked to be this machine's) or the first IPv4
 * address of the `networkInterface` NIC. Never left to the kernel, which picks by routing table.
 * @throws ConfigError naming the interface and what this machine has
 */
export function resolveInterface(o: MulticastOptions): string {
  const nics = networkInterfaces();
  const v4 = (name: string): string[] => (nics[name] ?? []).filter((a) => a.family === 'IPv4' || (a.family as unknown) === 4).map((a) => a.address);
  const have = (): string =>
    Object.keys(nics)
      .map((n) => `${n} ${v4(n).join(' ') || '(no IPv4)'}`)
      .join(', ');
  if (o.networkInterface !== null) {
    const ip = v4(o.networkInterface)[0];
    if (ip === undefined) throw new ConfigError(`multicast://${o.group}: network interface "${o.networkInterface}" has no IPv4 address here (have: ${have()})`);
    return ip;
  }
  const ip = o.interfaceAddress!;
  if (!Object.keys(nics).some((n) => v4(n).includes(ip))) {
    throw new ConfigError(`multicast://${o.group}: interface ${ip} is not an address of this machine (have: ${have()})`);
  }
  return ip;
}
