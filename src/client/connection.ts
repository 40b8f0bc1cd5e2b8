import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  BrokerError,
  ConnectionClosedError,
  errorFromCode,
  type FerryError,
  FrameTooLargeError,
  TimeoutError,
} from '../errors.js';
import type { BrokerCommand, BrokerInfo, BrowsedMessage as BrowsedWire, DestinationStats, Headers, SendCmd } from '../protocol/commands.js';
import { type ClientUri, parseClientUri } from '../transport/uri.js';
import { packCommand } from '../transport/writer.js';
import { type Body, type BrowsedMessage, browsedMessage, type Message } from './message.js';
import { sendCommand, socketDrained, WRITE_HIGH_WATER_BYTES } from './send.js';
import { type SubscribeOptions, Subscription, type SubscriptionOwner } from './subscription.js';
import { Transaction } from './transaction.js';
import { type ConnectInfo, Dialer } from './dialer.js';
import type { ClientTransport } from './transport.js';
import type { TlsClientOptions } from '../transport/tls.js';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Client id; durable subscriptions are keyed by it. Kept across reconnects. */
  clientId?: string;
  /**
   * Credentials sent on CONNECT for the broker's authenticate hook. A refused CONNECT rejects with a
   * `SecurityError` (FERRY_AUTHENTICATION_FAILED) and is not retried, even on a failover URL. @default none
   */
  user?: string;
  /** See `user`. @default none */
  password?: string;
  /**
   * ssl:// URIs: CA certificates to trust besides Node's own (NODE_EXTRA_CA_CERTS included), and a client
   * certificate for a connector with needClientAuth. @default Node's trust, no client certificate
   */
  tls?: TlsClientOptions;
  /** Inactivity duration to ask for, ms (the broker's setting is a ceiling). @default the broker's */
  heartbeatMs?: number;
  /** Time for one dial plus handshake, ms. @default 10000 */
  connectTimeoutMs?: number;
  /** @internal receives a function that cuts a reconnect back-off short (network bridges use it). */
  onDialer?: (redialNow: () => void) => void;
  /** Stops the first dial (a failover URL may retry for ever before `connect` resolves); `connect` then rejects. */
  signal?: AbortSignal;
  /**
   * Status events from the very first dial on (a failover URL may retry before `connect` resolves, when no
   * listener can be attached yet). Later events also arrive as `status` events on the connection.
   */
  onStatus?: (status: ConnectionStatus) => void;
}

/** Options of {@link Connection.send}. */
export interface SendOptions {
  /** Stored before the send resolves; survives a broker crash. @default true */
  persistent?: boolean;
  headers?: Headers;
  /** 0–9. @default 4 */
  priority?: number;
  /** Time to live, ms; 0: never expires. @default 0 */
  ttl?: number;
  correlationId?: string;
  replyTo?: string;
}

/** Status events, as ActiveMQ's TransportListener reports them. */
export type ConnectionStatus =
  | { type: 'interrupted'; url: string; error: Error }
  | { type: 'blocked'; url: string }
  | { type: 'unblocked'; url: string }
  | { type: 'reconnecting'; attempt: number; delayMs: number; url: string }
  | { type: 'resumed'; url: string }
  | { type: 'failed'; error: Error };

/** @default 10000 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

interface Pending {
  cmd: { rid: number } & Record<string, unknown>;
  resolve: (data: unknown) => void;
  reject: (err: Error) => void;
  /** Written on the current transport (else waiting for one). */
  sent: boolean;
  timer: NodeJS.Timeout | null;
}

/**
 * A client connection. With a `failover:` URL it survives the loss of its broker: it reconnects (one dial loop,
 * back-off capped at maxReconnectDelay), restores its subscriptions and resends every request that had no
 * receipt yet; the broker's duplicate audit stores a resent message once.
 *
 * Events: `status` ({@link ConnectionStatus}), and `interrupted` / `reconnecting` / `resumed` / `failed` with
 * the same payloads; `error` for an ERROR frame that answers no request (only when a listener is attached).
 */
export class Connection extends EventEmitter {
  private transport: ClientTransport | null = null;
  private readonly pending = new Map<number, Pending>();
  private readonly subs = new Map<number, Subscription>();
  private readonly owner: SubscriptionOwner;
  private readonly waitingForTransport = new Set<() => void>();
  private nextRid = 1;
  private nextSid = 1;
  private seq = 0;
  /** Increases with every transport: deliveries of an older one cannot be acked on a newer one. */
  private epoch = 0;
  private closing = false;
  private failed: Error | null = null;
  private dialing = false;
  private readonly dialer: Dialer;
  private nextTx = 0;
  private nextTemp = 0;
  private nextCorrelation = 0;
  private replySub: Promise<string> | null = null;
  private readonly replies = new Map<string, (m: Message) => void>();
  /** Producer id of this connection: (pid, seq) makes every send recognisable when resent. */
  readonly producerId = `P-${randomBytes(8).toString('hex')}`;
  readonly clientId: string;

  private constructor(
    readonly uri: ClientUri,
    private readonly opts: ConnectOptions,
  ) {
    super();
    this.clientId = opts.clientId ?? `C-${randomBytes(6).toString('hex')}`;
    const info: ConnectInfo = { clientId: this.clientId };
    if (opts.user !== undefined) info.user = opts.user;
    if (opts.password !== undefined) info.password = opts.password;
    if (opts.heartbeatMs !== undefined) info.heartbeat = opts.heartbeatMs;
    this.dialer = new Dialer(uri, info, opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, (s) => this.status(s), opts.tls);
    this.owner = {
      sendAck: (sid, tag, epoch, kind, upto) => {
        if (epoch !== this.epoch || this.transport === null) return; // redelivered by the broker anyway
        this.transport.writer.write(upto ? { t: kind, sid, tag, upto } : { t: kind, sid, tag });
      },
      unsubscribe: (sub) => this.detach(sub),
    };
  }

  /** @internal use {@link connect}. */
  static async open(url: string, opts: ConnectOptions = {}): Promise<Connection> {
    const c = new Connection(parseClientUri(url), opts);
    opts.onDialer?.(() => c.dialer.wake());
    const abort = (): void => c.dialer.stop();
    opts.signal?.addEventListener('abort', abort, { once: true });
    let t: ClientTransport;
    try {
      if (opts.signal?.aborted) throw new ConnectionClosedError('connect aborted');
      t = await c.dialer.dial(true);
    } finally {
      opts.signal?.removeEventListener('abort', abort);
    }
    c.install(t, false);
    return c;
  }

  /** Where this connection is now, e.g. `tcp://127.0.0.1:61616`; null while reconnecting. */
  get connectedUrl(): string | null {
    return this.transport?.url ?? null;
  }

  /** Name of the broker connected to. */
  get brokerName(): string | null {
    return this.transport?.connected.broker ?? null;
  }

  /** The broker's wireFormat.maxFrameSize. */
  get maxFrameSize(): number {
    return this.transport?.connected.maxFrameSize ?? 0xffffffff;
  }

  get isClosed(): boolean {
    return this.closing || this.failed !== null;
  }

  /**
   * Send a message. Resolves when the broker has it: for a persistent message (the default), once it is on
   * the broker's disk. Rejects with a typed error (FrameTooLargeError, BrokerError, TimeoutError, ...).
   */
  send(destination: string, body: Body, options: SendOptions = {}): Promise<void> {
    try {
      this.checkOpen();
      const cmd = sendCommand(destination, body, options, this.producerId, ++this.seq);
      if (!cmd.persistent) return this.sendCmd(cmd);
      // One promise per persistent send, settled by its RECEIPT (through two async functions it was three).
      cmd.rid = this.nextRid++;
      return new Promise<void>((resolve, reject) => this.pendingRequest(cmd as unknown as { rid: number; t: string }, resolve as () => void, reject));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /**
   * @internal a network bridge's send: the body bytes, body type and the message's identity (id, timestamp,
   * absolute expiry, broker path) pass through as they are, under this connection's producer id and sequence, so
   * a resend after a reconnect is stored once.
   */
  forward(cmd: SendCmd, done: (err: Error | null) => void): void {
    if (this.failed !== null || this.closing) return done(this.failed ?? new ConnectionClosedError('connection closed'));
    // Filled in place: the bridge builds one object per message and nothing else is allocated for it here.
    cmd.pid = this.producerId;
    cmd.seq = ++this.seq;
    const t = this.transport;
    if (cmd.persistent) {
      cmd.rid = this.nextRid++;
      if (t === null) return this.pendingRequest(cmd as unknown as { rid: number; t: string }, () => done(null), done);
      // Encoded straight into the write buffer (hot-encode.ts when it knows the shape), not packed and copied.
      if (!t.writer.writeSend(cmd, this.maxFrameSize)) return done(this.tooLarge(cmd));
      this.pending.set(cmd.rid, { cmd: cmd as unknown as Pending['cmd'], resolve: () => done(null), reject: done, sent: true, timer: null });
      return;
    }
    if (t === null) {
      this.sendCmd(cmd).then(() => done(null), done);
      return;
    }
    // Answered at once unless the socket is congested: then once it drains (the bridge's credit waits with it).
    if (!t.writer.writeSend(cmd, this.maxFrameSize)) return done(this.tooLarge(cmd));
    if (t.writer.backlog > WRITE_HIGH_WATER_BYTES) socketDrained(t.socket).then(() => done(null), done);
    else done(null);
  }

  /** The error of a SEND whose frame exceeds the broker's maxFrameSize. */
  private tooLarge(cmd: SendCmd): Error {
    try {
      this.checkSize(packCommand(cmd));
    } catch (err) {
      return err as Error;
    }
    return new FrameTooLargeError(`SEND to ${cmd.dest} exceeds the broker's wireFormat.maxFrameSize=${this.maxFrameSize}`);
  }

  /**
   * @internal give up every SEND still waiting for its receipt: it is rejected now and not resent after a
   * reconnect (a network bridge whose peer is gone hands the messages to another route instead).
   * @returns how many were given up.
   */
  abandonSends(reason: string): number {
    let n = 0;
    for (const [rid, p] of this.pending) {
      if (p.cmd.t !== 'SEND') continue;
      this.pending.delete(rid);
      if (p.timer) clearTimeout(p.timer);
      p.reject(new ConnectionClosedError(reason));
      n++;
    }
    return n;
  }

  private async sendCmd(cmd: SendCmd): Promise<void> {
    if (cmd.persistent) {
      cmd.rid = this.nextRid++;
      await this.call(cmd as unknown as { rid: number; t: string });
      return;
    }
    while (this.transport === null) await this.waitForTransport();
    const t = this.transport!;
    // writeSend answers false only for a body over maxFrameSize: checkSize then throws the error that says so.
    if (!t.writer.writeSend(cmd, this.maxFrameSize)) this.checkSize(packCommand(cmd));
    if (t.writer.backlog > WRITE_HIGH_WATER_BYTES) await socketDrained(t.socket);
  }

  /** Subscribe; resolves once the broker has the subscription. */
  async subscribe(destination: string, options: SubscribeOptions = {}): Promise<Subscription> {
    this.checkOpen();
    if (options.durable !== undefined && this.opts.clientId === undefined) {
      // A generated client id changes with every run: the subscription could never be found again.
      throw new BrokerError('FERRY_INVALID_COMMAND', `durable subscription ${options.durable} needs a clientId in the connect options`);
    }
    const sid = this.nextSid++;
    const sub = new Subscription(
      sid,
      destination,
      options.ack ?? 'auto',
      options.prefetch ?? 1000,
      this.owner,
      options.selector,
      options.durable,
      this.uri.failover,
      { ...(options.priority !== undefined ? { priority: options.priority } : {}), ...(options.network !== undefined ? { network: options.network } : {}) },
    );
    this.subs.set(sid, sub);
    try {
      await this.call({ rid: this.nextRid++, ...subscribeCommand(sub) });
    } catch (err) {
      this.subs.delete(sid);
      sub.end();
      throw err;
    }
    return sub;
  }

  /** Statistics of every destination on the broker (dstat). */
  async stats(): Promise<DestinationStats[]> {
    return (await this.call({ t: 'STATS', rid: this.nextRid++ })) as DestinationStats[];
  }

  /** The broker's name, version and master/slave role. */
  async info(): Promise<BrokerInfo> {
    return (await this.call({ t: 'INFO', rid: this.nextRid++ })) as BrokerInfo;
  }

  /**
   * Up to `max` waiting messages of a queue, in dispatch order, left where they are; bodies come back as the kind
   * that was sent. A topic has nothing waiting to browse: rejects with FERRY_INVALID_DESTINATION.
   */
  async browse(destination: string, max = 1000): Promise<BrowsedMessage[]> {
    if (/^(topic:\/\/|\/topic\/)/.test(destination)) {
      throw errorFromCode('FERRY_INVALID_DESTINATION', `BROWSE needs a queue, got ${destination}: a topic keeps no messages to browse`);
    }
    const wire = (await this.call({ t: 'BROWSE', rid: this.nextRid++, dest: destination, max })) as BrowsedWire[];
    return wire.map(browsedMessage);
  }

  /** Drop a queue's waiting messages; resolves to how many. */
  async purge(destination: string): Promise<number> {
    return (await this.call({ t: 'PURGE', rid: this.nextRid++, dest: destination })) as number;
  }

  /** Remove a queue and its messages (or a topic without subscribers); resolves to messages dropped. */
  async deleteDestination(destination: string): Promise<number> {
    return (await this.call({ t: 'DELETE', rid: this.nextRid++, dest: destination })) as number;
  }

  /** Remove this client id's durable subscription `name`, with the messages kept for it. */
  async unsubscribe(name: string): Promise<void> {
    this.checkOpen();
    await this.call({ t: 'UNSUBSCRIBE', rid: this.nextRid++, durable: name });
  }

  /**
   * Start a transaction: its sends appear, and its acks take effect, only at commit. A failover while it is open
   * rolls it back (the broker aborts it with the old connection); commit then rejects.
   */
  async begin(): Promise<Transaction> {
    this.checkOpen();
    const tx = new Transaction(this, `${this.producerId}-T${++this.nextTx}`);
    await tx.open();
    return tx;
  }

  /** @internal the current transport's number: it changes with every reconnect. */
  get currentEpoch(): number {
    return this.epoch;
  }

  /** @internal a new transaction id on this connection. */
  nextTransactionId(): string {
    return `${this.producerId}-T${++this.nextTx}`;
  }

  /** A temporary queue: it lives as long as this connection. Subscribe to it before anyone sends to it. */
  createTemporaryQueue(): string {
    return `temp-queue://${this.producerId}-${++this.nextTemp}`;
  }

  /**
   * Request/reply: send with a fresh correlation id and `replyTo` set to this connection's reply queue, and
   * resolve with the first reply carrying that correlation id.
   * @throws TimeoutError when no reply comes within `timeout` ms (default 30000)
   */
  async request(destination: string, body: Body, options: SendOptions & { timeout?: number } = {}): Promise<Message> {
    const replyTo = await this.replyQueue();
    const correlationId = `${this.producerId}-R${++this.nextCorrelation}`;
    const timeout = options.timeout ?? 30_000;
    const reply = new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(correlationId);
        reject(new TimeoutError(`no reply to ${destination} within ${timeout} ms (correlationId ${correlationId})`));
      }, timeout);
      this.replies.set(correlationId, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    const { timeout: _t, ...sendOptions } = options;
    await this.send(destination, body, { ...sendOptions, correlationId, replyTo });
    return reply;
  }

  private async replyQueue(): Promise<string> {
    if (this.replySub === null) {
      const dest = this.createTemporaryQueue();
      this.replySub = this.subscribe(dest).then((sub) => {
        void (async () => {
          for await (const m of sub) {
            const r = m.correlationId !== undefined ? this.replies.get(m.correlationId) : undefined;
            if (r) {
              this.replies.delete(m.correlationId!);
              r(m);
            }
          }
        })();
        return dest;
      });
    }
    return this.replySub;
  }

  /** @internal BEGIN, COMMIT or ABORT. */
  txRequest(cmd: { t: string; tx: string } & Record<string, unknown>): Promise<unknown> {
    this.checkOpen();
    return this.call({ ...cmd, rid: this.nextRid++ });
  }

  /** @internal build a transaction's send: its own producer id, so a replay after failover is recognised. */
  txCommand(pid: string, seq: number, destination: string, body: Body, options: SendOptions): SendCmd {
    return sendCommand(destination, body, options, pid, seq);
  }

  /** @internal send (or replay) a transaction's send under transaction `tx`; resolves once the broker holds it. */
  txSend(cmd: SendCmd, tx: string): Promise<unknown> {
    this.checkOpen();
    return this.call({ ...(cmd as unknown as Record<string, unknown>), t: 'SEND', tx, rid: this.nextRid++ });
  }

  /** @internal an ACK inside a transaction (written at once; it takes effect at COMMIT). */
  txAck(tx: string, m: Message): boolean {
    if (m.epoch !== this.epoch || this.transport === null) return false;
    this.transport.writer.write({ t: 'ACK', sid: m.sid, tag: m.tag, tx });
    return true;
  }

  /** @internal a committed transaction acknowledged `m`: drop its redeliveries from now on. */
  noteAcked(m: Message): void {
    this.subs.get(m.sid)?.noteAcked(m.id);
  }

  /** Close: DISCONNECT, then the socket. Unacknowledged messages are redelivered to other consumers. */
  async close(): Promise<void> {
    if (this.closing) return;
    // What the application has received in auto mode counts as consumed: say so before leaving.
    for (const sub of this.subs.values()) sub.flushAcks();
    this.closing = true;
    const t = this.transport;
    if (t !== null && this.failed === null) {
      try {
        const rid = this.nextRid++;
        const done = this.call({ t: 'DISCONNECT', rid });
        const timer = new Promise((resolve) => setTimeout(resolve, 2000).unref());
        await Promise.race([done, timer]);
      } catch {
        // closing anyway
      }
    }
    this.dialer.stop();
    this.shutdown(new ConnectionClosedError('connection closed'));
  }

  private async detach(sub: Subscription): Promise<void> {
    this.subs.delete(sub.sid);
    sub.end();
    if (this.transport !== null && !this.isClosed) {
      await this.call({ t: 'UNSUBSCRIBE', rid: this.nextRid++, sid: sub.sid }).catch(() => {});
    }
  }

  private call(cmd: { rid: number; t: string } & Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => this.pendingRequest(cmd, resolve, reject));
  }

  /** Write a request (now, or once reconnected) and keep it until its RECEIPT or ERROR: resent after a failover. */
  private pendingRequest(
    cmd: { rid: number; t: string } & Record<string, unknown>,
    resolve: (data: unknown) => void,
    reject: (err: Error) => void,
  ): void {
    if (this.failed !== null) return reject(this.failed);
    const p: Pending = { cmd, resolve, reject, sent: false, timer: null };
    if (this.transport !== null) {
      // A persistent SEND is encoded in place when it has the plain shape (hot-encode.ts), not packed into a
      // buffer of its own and copied; one too large is written nowhere, and checkSize below says why.
      if (cmd.t === 'SEND' && this.transport.writer.writeSend(cmd as unknown as SendCmd, this.maxFrameSize)) {
        this.pending.set(cmd.rid, p);
        p.sent = true;
        return;
      }
      // Check the size before registering, so an oversized send fails without side effects.
      const packed = packCommand(cmd);
      try {
        this.checkSize(packed);
      } catch (err) {
        return reject(err as Error);
      }
      this.pending.set(cmd.rid, p);
      this.transport.writer.writePacked(packed);
      p.sent = true;
      return;
    }
    this.pending.set(cmd.rid, p);
    const timeout = this.uri.options.timeoutMs;
    if (timeout >= 0) {
      p.timer = setTimeout(() => {
        if (p.sent) return;
        this.pending.delete(cmd.rid);
        reject(new TimeoutError(`${cmd.t} not sent: disconnected for longer than timeout=${timeout} ms`));
      }, timeout);
    }
  }

  private checkSize(packed: Buffer): Buffer {
    if (packed.length > this.maxFrameSize) {
      throw new FrameTooLargeError(
        `frame of ${packed.length} bytes exceeds the broker's wireFormat.maxFrameSize=${this.maxFrameSize}`,
      );
    }
    return packed;
  }

  private checkOpen(): void {
    if (this.failed !== null) throw this.failed;
    if (this.closing) throw new ConnectionClosedError('connection closed');
  }

  private waitForTransport(): Promise<void> {
    const timeout = this.uri.options.timeoutMs;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.waitingForTransport.delete(done);
        if (this.failed !== null) reject(this.failed);
        else if (this.closing) reject(new ConnectionClosedError('connection closed'));
        else resolve();
      };
      this.waitingForTransport.add(done);
      if (timeout >= 0) {
        timer = setTimeout(() => {
          this.waitingForTransport.delete(done);
          reject(new TimeoutError(`send not possible: disconnected for longer than timeout=${timeout} ms`));
        }, timeout);
      }
    });
  }

  /** Make `t` the live transport: restore subscriptions, resend what has no receipt, wake blocked sends. */
  private install(t: ClientTransport, resumed: boolean): void {
    this.epoch++;
    this.transport = t;
    const epoch = this.epoch;
    t.attach({
      onCommand: (cmd) => this.onCommand(cmd, epoch),
      onClose: (err) => this.onTransportLost(t, err),
    });
    // A subscription whose SUBSCRIBE had no receipt yet is sent once, as the resent request below: restoring it
    // too would repeat its sid, which the broker refuses.
    const inFlight = new Set<number>();
    for (const p of this.pending.values()) if (p.cmd.t === 'SUBSCRIBE') inFlight.add((p.cmd as unknown as { sid: number }).sid);
    for (const sub of this.subs.values()) if (!inFlight.has(sub.sid)) t.writer.write(subscribeCommand(sub));
    for (const p of [...this.pending.values()].sort((a, b) => a.cmd.rid - b.cmd.rid)) {
      if (p.timer) clearTimeout(p.timer);
      p.timer = null;
      t.writer.write(p.cmd);
      p.sent = true;
    }
    for (const w of [...this.waitingForTransport]) w();
    if (resumed) this.status({ type: 'resumed', url: t.url });
    if (this.uri.options.priorityBackup && t.endpoint !== this.uri.endpoints[0]) {
      const primary = this.uri.endpoints[0];
      this.dialer.watchPrimary(
        () => !this.isClosed && this.transport !== null && this.transport.endpoint !== primary,
        (next) => {
          // Move only with no request awaiting a receipt, so nothing in doubt is sent to two brokers.
          if (this.pending.size > 0) return false;
          this.transport?.close();
          // What the old broker had delivered but not seen acked goes back to its queue there.
          for (const sub of this.subs.values()) sub.interrupted();
          this.install(next, true);
          return true;
        },
      );
    }
  }

  private onCommand(cmd: BrokerCommand, epoch: number): void {
    switch (cmd.t) {
      case 'MESSAGE':
        this.subs.get(cmd.sid)?.push(cmd, epoch);
        return;
      case 'RECEIPT': {
        const p = this.pending.get(cmd.rid);
        if (p === undefined) return;
        this.pending.delete(cmd.rid);
        p.resolve(cmd.data);
        return;
      }
      case 'ERROR': {
        const err = errorFromCode(cmd.code, cmd.message);
        const p = cmd.rid !== undefined ? this.pending.get(cmd.rid) : undefined;
        if (p !== undefined) {
          this.pending.delete(cmd.rid!);
          p.reject(err);
        } else if (this.listenerCount('error') > 0) this.emit('error', err);
        return;
      }
      case 'PING':
        this.transport?.writer.write({ t: 'PONG' });
        return;
      case 'FLOW':
        this.status({ type: cmd.blocked ? 'blocked' : 'unblocked', url: this.connectedUrl ?? '' });
        return;
      default:
        return;
    }
  }

  private onTransportLost(t: ClientTransport, err: FerryError): void {
    if (this.transport !== t) return;
    this.transport = null;
    for (const p of this.pending.values()) p.sent = false;
    for (const sub of this.subs.values()) sub.interrupted();
    if (this.closing) {
      // close() is waiting for its DISCONNECT receipt, which will not come now: let it finish at once.
      for (const [rid, p] of this.pending) {
        this.pending.delete(rid);
        if (p.timer) clearTimeout(p.timer);
        p.reject(err);
      }
      return;
    }
    if (!this.uri.failover || this.uri.options.maxReconnectAttempts === 0) {
      this.shutdown(err);
      this.status({ type: 'failed', error: err });
      return;
    }
    this.status({ type: 'interrupted', url: t.url, error: err });
    if (this.dialing) return;
    this.dialing = true;
    this.dialer.dial(false).then(
      (next) => {
        this.dialing = false;
        if (this.closing) next.close();
        else this.install(next, true);
      },
      (e: Error) => {
        this.dialing = false;
        if (this.closing) return;
        this.shutdown(e);
        this.status({ type: 'failed', error: e });
      },
    );
  }

  /** Fail everything outstanding with `err` and end every subscription. */
  private shutdown(err: Error): void {
    if (!this.closing) this.failed = err;
    this.transport?.close();
    this.transport = null;
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    for (const sub of this.subs.values()) sub.end();
    this.subs.clear();
    for (const w of [...this.waitingForTransport]) w();
  }

  private status(s: ConnectionStatus): void {
    this.opts.onStatus?.(s);
    this.emit(s.type, s);
    this.emit('status', s);
  }
}

/**
 * Connect to a broker: `tcp://host:port`, or `failover:(tcp://a:61616,tcp://b:61617)?randomize=false&…` to ride
 * through a broker's death.
 */
export function connect(url: string, options: ConnectOptions = {}): Promise<Connection> {
  return Connection.open(url, options);
}

/** The SUBSCRIBE command for a subscription (first time and after every reconnect). */
function subscribeCommand(sub: Subscription): { t: 'SUBSCRIBE' } & Record<string, unknown> {
  const cmd: { t: 'SUBSCRIBE' } & Record<string, unknown> = {
    t: 'SUBSCRIBE',
    sid: sub.sid,
    dest: sub.destination,
    ack: sub.ackMode,
    prefetch: sub.prefetch,
  };
  if (sub.selector !== undefined) cmd['selector'] = sub.selector;
  if (sub.durable !== undefined) cmd['durable'] = sub.durable;
  if (sub.extra.priority !== undefined) cmd['priority'] = sub.extra.priority;
  if (sub.extra.network !== undefined) cmd['network'] = sub.extra.network;
  return cmd;
}
