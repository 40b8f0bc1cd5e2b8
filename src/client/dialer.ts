import { ConnectionClosedError, SecurityError } from '../errors.js';
import { MulticastDiscoveryAgent } from '../transport/discovery/multicast.js';
import { type ClientUri, type EndpointUri, parseEndpointUri } from '../transport/uri.js';
import type { ConnectionStatus } from './connection.js';
import { ClientTransport } from './transport.js';
import type { TlsClientOptions } from '../transport/tls.js';

/** What CONNECT carries, the same on every dial. */
export interface ConnectInfo {
  clientId: string;
  user?: string;
  password?: string;
  heartbeat?: number;
}

/**
 * ActiveMQ's failover dialling for one connection: passes over the URI list (shuffled when `randomize`) with
 * capped exponential back-off between passes, and for `priorityBackup` a background watch that reconnects to the
 * first URI when it comes back. One dial loop at a time; stop() ends any wait.
 *
 * For `discovery:(multicast://…)` the list is the brokers advertising on the group right now (ActiveMQ's
 * DiscoveryTransport): the agent starts with the first dial, and a newly heard broker cuts a back-off wait short.
 */
export class Dialer {
  private agent: MulticastDiscoveryAgent | null = null;
  /** Discovery: the advertised brokers, by service URI. */
  private readonly found = new Map<string, EndpointUri>();
  private sleepCancel: (() => void) | null = null;
  private priorityTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Set by wake(): the next pass starts now, with the initial delay again. */
  private woken = false;

  constructor(
    private readonly uri: ClientUri,
    private readonly info: ConnectInfo,
    private readonly timeoutMs: number,
    private readonly status: (s: ConnectionStatus) => void,
    /** ssl:// endpoints: what to trust and present. */
    private readonly tls?: TlsClientOptions,
  ) {}

  /**
   * Dial until a broker answers CONNECTED, or the pass limit (startupMaxReconnectAttempts before the first
   * connect, maxReconnectAttempts after it) is used up.
   */
  async dial(startup: boolean): Promise<ClientTransport> {
    const o = this.uri.options;
    const limit = startup ? o.startupMaxReconnectAttempts : o.maxReconnectAttempts;
    let delay = o.initialReconnectDelayMs;
    let pass = 0;
    let order = this.order();
    let lastErr: Error | null = null;
    if (this.uri.discovery !== undefined && this.agent === null) {
      await this.startDiscovery();
      // Brokers advertise every keepAliveInterval: give them two before calling the list empty.
      if (this.found.size === 0) await this.sleep(this.uri.discovery.keepAliveIntervalMs * 2);
      this.woken = false;
      order = this.order();
    }
    for (;;) {
      for (const ep of order) {
        if (this.stopped) throw new ConnectionClosedError('connection closed while reconnecting');
        try {
          return await ClientTransport.open(ep, this.info, this.timeoutMs, this.tls);
        } catch (err) {
          // Refused credentials would be refused again (ActiveMQ's failover does not retry a SecurityException).
          if (err instanceof SecurityError) throw err;
          lastErr = err as Error;
        }
      }
      pass++;
      if (limit >= 0 && pass > limit) {
        // A plain tcp:// URL reports what went wrong as it is (refused, too many connections, ...).
        if (!this.uri.failover && lastErr !== null) throw lastErr;
        const d = this.uri.discovery;
        const list = d !== undefined ? `the brokers advertised on multicast group ${d.group}` : this.uri.endpoints.map((e) => e.raw).join(', ');
        throw new ConnectionClosedError(
          `cannot connect to ${list} after ${pass} pass${pass === 1 ? '' : 'es'}: ${lastErr?.message ?? 'no endpoint'}`,
          { cause: lastErr },
        );
      }
      order = this.order();
      this.status({ type: 'reconnecting', attempt: pass + 1, delayMs: delay, url: order[0]?.raw ?? `multicast://${this.uri.discovery?.group}` });
      await this.sleep(delay);
      delay = this.woken ? o.initialReconnectDelayMs : this.next(delay);
      this.woken = false;
    }
  }

  /**
   * priorityBackup: while connected elsewhere, keep trying the first URI (with the usual back-off). `take` gets
   * each transport that reaches it and says whether it was taken; one not taken is closed and tried again soon.
   */
  watchPrimary(connectedElsewhere: () => boolean, take: (t: ClientTransport) => boolean): void {
    if (this.priorityTimer !== null) return;
    const primary: EndpointUri = this.uri.endpoints[0]!;
    let delay = this.uri.options.initialReconnectDelayMs;
    const schedule = (ms: number): void => {
      this.priorityTimer = setTimeout(attempt, ms);
      this.priorityTimer.unref();
    };
    const attempt = (): void => {
      this.priorityTimer = null;
      if (this.stopped || !connectedElsewhere()) return;
      ClientTransport.open(primary, this.info, this.timeoutMs, this.tls).then(
        (t) => {
          if (this.stopped || !connectedElsewhere()) return t.close();
          if (!take(t)) {
            t.close();
            schedule(10);
          }
        },
        () => {
          delay = this.next(delay);
          schedule(delay);
        },
      );
    };
    schedule(delay);
  }

  /** Cut a back-off wait short and start again from the initial delay (the peer is probably back now). */
  wake(): void {
    if (this.sleepCancel === null) return;
    this.woken = true;
    this.sleepCancel();
  }

  /** End any wait; the dial loop stops at its next step. */
  stop(): void {
    this.stopped = true;
    void this.agent?.stop();
    this.sleepCancel?.();
    if (this.priorityTimer !== null) clearTimeout(this.priorityTimer);
    this.priorityTimer = null;
  }

  private next(delay: number): number {
    const o = this.uri.options;
    return Math.min(o.useExponentialBackOff ? delay * o.backOffMultiplier : delay, o.maxReconnectDelayMs);
  }

  private async startDiscovery(): Promise<void> {
    const agent = new MulticastDiscoveryAgent(this.uri.discovery!, { advertise: null });
    this.agent = agent;
    agent.on('peer-up', (uri) => {
      try {
        const ep = parseEndpointUri(uri);
        if (ep.scheme === 'stomp') return; // a STOMP connector: not for this client
        this.found.set(uri, ep);
        this.wake();
      } catch {
        // the agent only reports URIs that parse
      }
    });
    agent.on('peer-down', (uri) => this.found.delete(uri));
    await agent.start();
  }

  private order(): EndpointUri[] {
    const list = this.uri.discovery !== undefined ? [...this.found.values()] : [...this.uri.endpoints];
    if (this.uri.options.randomize) {
      for (let i = list.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [list[i], list[j]] = [list[j]!, list[i]!];
      }
    }
    return list;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleepCancel = null;
        resolve();
      }, ms);
      this.sleepCancel = () => {
        clearTimeout(timer);
        this.sleepCancel = null;
        resolve();
      };
    });
  }
}
