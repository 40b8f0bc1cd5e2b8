import type { Socket } from 'node:net';
import type { Broker } from '../../broker/broker.js';
import type { BrokerMessage } from '../../model/message.js';
import type { Session } from '../../broker/session.js';
import type { DeliverySink, Subscription } from '../../broker/subscription.js';
import { FerryError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { VERSION } from '../../version.js';
import { CONNECT_TIMEOUT_MS } from '../native-connection.js';
import { endSocket } from '../socket.js';
import type { ProtocolConnection, WireProtocol } from '../tcp-server.js';
import type { ConnectorOptions } from '../uri.js';
import { CONGESTED_BYTES } from '../writer.js';
import { encodeError, encodeFrame, StompWriter } from './encoder.js';
import { HeartbeatMonitor, negotiateHeartbeat, parseHeartBeat } from './heartbeat.js';
import { brokerDestination, messageFrame, required, sendInput, StompError } from './mapping.js';
import { STOMP_VERSIONS, type StompFrame, StompParseError, StompParser, type StompVersion } from './parser.js';
import { subscribeHeaders, SubscriptionTable } from './subscriptions.js';

/** Stop reading a producer's socket while this many of its sends wait for the store; resume at a quarter. */
const MAX_PENDING = 8192;
/** Auto-ack deliveries count as consumed once written, unless this much output is still waiting for the kernel. */
const AUTO_ACK_BACKLOG = 1024 * 1024;

type State = 'connecting' | 'open' | 'closing' | 'closed';

/**
 * One STOMP connection on the broker side: frames in, calls on a core {@link Session}, frames out. Per STOMP 1.2 an
 * ERROR frame ends the connection: every problem (malformed frame, unknown command, missing header, refused
 * operation) is answered with an ERROR whose `message` header names it, then the socket is closed. Nothing here
 * touches another connection.
 */
export class StompConnection implements DeliverySink, ProtocolConnection {
  private state: State = 'connecting';
  private version: StompVersion = '1.0';
  private readonly parser: StompParser;
  private readonly writer: StompWriter;
  private readonly heartbeat = new HeartbeatMonitor();
  private session: Session | null = null;
  private readonly subs = new SubscriptionTable(() => this.version);
  /** Sends, commits and durable removals whose answer is still due. */
  private pending = 0;
  private whenIdle: (() => void) | null = null;
  /** Frames waiting behind a send held by producer flow control, in arrival order. */
  private inbox: StompFrame[] = [];
  private inboxTimer: NodeJS.Timeout | null = null;
  private paused = false;
  /** Auto-ack deliveries written but not yet acked: the highest tag per subscription. */
  private autoAcks = new Map<number, number>();
  private autoAckScheduled = false;
  private connectTimer: NodeJS.Timeout | null;
  private readonly log: Logger;
  readonly remote: string;

  constructor(
    private readonly socket: Socket,
    private readonly broker: Broker,
    private readonly options: ConnectorOptions,
    logger: Logger,
    private readonly onClosed: (c: StompConnection) => void,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.log = logger.child({ conn: this.remote, protocol: 'stomp' });
    this.parser = new StompParser(options.maxFrameSize);
    this.writer = new StompWriter(socket);
    this.writer.onFlush = () => this.scheduleAutoAcks();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err }, 'socket error'));
    socket.on('close', () => this.cleanup());
    // Deliveries paused while the socket was congested resume once it drains.
    socket.on('drain', () => this.session?.resumeDelivery());
    this.connectTimer = setTimeout(() => this.fail(`no CONNECT frame within ${CONNECT_TIMEOUT_MS} ms`), CONNECT_TIMEOUT_MS);
    this.connectTimer.unref();
  }

  /** Send an ERROR frame naming the problem, then close. */
  fail(message: string, receipt?: string, extra: [string, string][] = []): void {
    if (this.state === 'closed') return;
    this.log.info({ receipt }, 'STOMP error: %s', message);
    const headers = receipt === undefined ? extra : [['receipt-id', receipt] as [string, string], ...extra];
    this.writer.write(encodeError(message, this.state === 'connecting' ? null : this.version, headers));
    this.close();
  }

  /** Close quietly (broker stopping, or after DISCONNECT). */
  close(): void {
    this.writer.flush();
    endSocket(this.socket);
    this.cleanup();
  }

  /** The peer is not reading fast enough: pause deliveries until the socket drains (backpressure). */
  get congested(): boolean {
    return this.writer.backlog > CONGESTED_BYTES;
  }

  deliver(sub: Subscription, m: BrokerMessage, tag: number): void {
    const s = this.subs.bySid.get(sub.sid);
    // After DISCONNECT nothing more is written: the delivery stays unacked and goes back when the session closes.
    if (s === undefined || this.state !== 'open') return;
    let ackId: string | undefined;
    if (s.ack === 'auto') this.autoAcks.set(s.sid, tag);
    else ackId = this.subs.delivered(s, m.id, tag);
    try {
      this.writer.write(messageFrame(s.id, m, ackId, this.version));
    } catch (err) {
      // Never into the queue's dispatch loop: this connection fails, later, and its deliveries go back.
      this.log.error({ err, id: m.id }, 'cannot encode a MESSAGE frame');
      setImmediate(() => this.fail(`internal error: cannot encode message ${m.id}`));
    }
  }

  private onData(chunk: Buffer): void {
    this.heartbeat.lastRead = Date.now();
    try {
      this.parser.push(chunk, (f) => this.onFrame(f));
    } catch (err) {
      if (!(err instanceof StompParseError)) this.log.error({ err }, 'internal error reading a STOMP frame');
      this.fail((err as Error).message, (err as StompParseError).receipt);
    }
  }

  private onFrame(f: StompFrame): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    if (this.inbox.length > 0) {
      this.inbox.push(f);
      return;
    }
    this.process(f);
  }

  /** @returns false when the frame has to wait (producer flow control); it is then first in the inbox. */
  private process(f: StompFrame): boolean {
    try {
      return this.handle(f);
    } catch (err) {
      if (!(err instanceof StompError) && !(err instanceof FerryError)) this.log.error({ err }, 'internal error handling %s', f.command);
      this.fail(`${(err as Error).message}`, f.headers.get('receipt'));
      return true;
    }
  }

  /** Dispatch one frame; connection state is enforced here (CONNECT first, once). */
  private handle(f: StompFrame): boolean {
    if (this.state === 'connecting') {
      if (f.command !== 'CONNECT' && f.command !== 'STOMP') throw new StompError(`${f.command} before CONNECT: the first frame must be CONNECT or STOMP`);
      this.onConnect(f);
      return true;
    }
    const s = this.session!;
    const receipt = f.headers.get('receipt');
    switch (f.command) {
      case 'SEND':
        return this.onSend(s, f, receipt);
      case 'SUBSCRIBE':
        this.onSubscribe(s, f, receipt);
        return true;
      case 'UNSUBSCRIBE':
        this.onUnsubscribe(s, f, receipt);
        return true;
      case 'ACK':
      case 'NACK':
        this.onAck(s, f);
        break;
      case 'BEGIN':
        s.begin(required(f, 'transaction'));
        break;
      case 'COMMIT': {
        const tx = required(f, 'transaction');
        this.async(receipt, (done) => s.commit(tx, done));
        return true;
      }
      case 'ABORT':
        s.abort(required(f, 'transaction'));
        break;
      case 'DISCONNECT':
        this.state = 'closing';
        this.afterPending(() => {
          this.receipt(receipt);
          this.close();
        });
        return true;
      case 'CONNECT':
      case 'STOMP':
        throw new StompError(`second ${f.command} on one connection`);
      default:
        throw new StompError(`unknown command ${JSON.stringify(f.command.slice(0, 40))}`);
    }
    this.receipt(receipt);
    return true;
  }

  private onConnect(f: StompFrame): void {
    const accept = f.headers.get('accept-version');
    const offered = accept === undefined ? ['1.0'] : accept.split(',').map((v) => v.trim());
    const common = STOMP_VERSIONS.filter((v) => offered.includes(v));
    if (common.length === 0) {
      const ours = STOMP_VERSIONS.join(',');
      return this.fail(`Supported protocol versions are ${ours} (the client accepts ${accept})`, undefined, [['version', ours]]);
    }
    const hbHeader = f.headers.get('heart-beat');
    const hb = hbHeader === undefined ? null : parseHeartBeat(hbHeader);
    if (hbHeader !== undefined && hb === null) {
      throw new StompError(`invalid heart-beat ${JSON.stringify(hbHeader.slice(0, 40))}: expected two integers, e.g. 10000,10000`);
    }
    const clientId = f.headers.get('client-id');
    const version = common[common.length - 1]!;
    const plan = negotiateHeartbeat(hb, this.options.maxInactivityDurationMs);
    this.session = this.broker.createSession({ clientId: clientId === '' ? undefined : clientId, remote: this.remote }, this);
    this.version = version;
    this.parser.version = version;
    this.state = 'open';
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    const h: [string, string][] = [];
    if (accept !== undefined) h.push(['version', version]);
    h.push(['server', `ferrymq/${VERSION}`]);
    if (hbHeader !== undefined || version !== '1.0') h.push(['heart-beat', plan.header]);
    h.push(['session', `${this.broker.id}:${this.remote}`]);
    this.writer.write(encodeFrame('CONNECTED', h, null, null));
    const limit = plan.readTimeoutMs;
    // No heart-beats from this client: the kernel's keep-alive probes notice a dead peer instead.
    if (plan.readTimeoutMs === 0) this.socket.setKeepAlive(true, 15_000);
    this.heartbeat.start(
      plan,
      () => this.writer.lastWrite,
      () => this.writer.heartbeat(),
      (silent) =>
        this.fail(
          `no frame or heart-beat from the client for ${silent} ms (limit ${limit} ms from wireFormat.maxInactivityDuration=` +
            `${this.options.maxInactivityDurationMs} ms; the client offered heart-beats every ${plan.clientSendsMs} ms)`,
        ),
      () => this.paused,
    );
    this.log.debug({ clientId, version, heartbeat: plan.header }, 'STOMP connected');
  }

  private onSend(s: Session, f: StompFrame, receipt: string | undefined): boolean {
    const { input, tx } = sendInput(f, Date.now());
    // Producer flow control: the broker's (or the destination's) memory is full. STOMP has no way to say so, so the socket stops being read
    // (as ActiveMQ does); persistent messages to a queue page to disk instead.
    if (tx === undefined && this.broker.mustHold(input.dest, input.persistent)) {
      this.hold(f);
      return false;
    }
    this.async(receipt, (done) => s.send(input, done, tx));
    return true;
  }

  /** Run an operation answered later: RECEIPT when it succeeds, ERROR (and close) when it fails. */
  private async(receipt: string | undefined, op: (done: (err?: Error) => void) => void): void {
    this.pending++;
    this.updatePause();
    let called = false;
    const done = (err?: Error): void => {
      if (called) return;
      called = true;
      this.pending--;
      this.updatePause();
      if (err) this.fail(err.message, receipt);
      else this.receipt(receipt);
      if (this.pending === 0 && this.whenIdle !== null) {
        const w = this.whenIdle;
        this.whenIdle = null;
        w();
      }
    };
    try {
      op(done);
    } catch (err) {
      called = true;
      this.pending--;
      this.updatePause();
      throw err;
    }
  }

  private afterPending(fn: () => void): void {
    if (this.pending === 0) fn();
    else this.whenIdle = fn;
  }

  private hold(f: StompFrame): void {
    this.inbox.unshift(f);
    if (this.inbox.length > 1) return;
    this.updatePause();
    this.log.info({ memoryUsage: this.broker.memoryUsage, memoryLimit: this.broker.memoryLimit }, 'STOMP producer blocked: memory limit reached');
    this.broker.whenMemoryAvailable(() => this.release());
    const timeout = this.broker.sendFailIfNoSpaceAfterTimeoutMs;
    if (timeout >= 0) {
      this.inboxTimer = setTimeout(
        () => this.fail(`send failed: broker memory limit (${this.broker.memoryLimit} bytes) reached and still full after sendFailIfNoSpaceAfterTimeout=${timeout} ms`, f.headers.get('receipt')),
        timeout,
      );
      this.inboxTimer.unref();
    }
  }

  private release(): void {
    // Memory was freed somewhere; if the send at the head still has no room, keep waiting (and keep its deadline).
    const head = this.inbox[0];
    if (head !== undefined && this.state === 'open' && this.stillFull(head)) {
      this.broker.whenMemoryAvailable(() => this.release());
      return;
    }
    if (this.inboxTimer !== null) clearTimeout(this.inboxTimer);
    this.inboxTimer = null;
    const frames = this.inbox;
    this.inbox = [];
    for (let i = 0; i < frames.length; i++) {
      if (this.state !== 'open') return;
      if (!this.process(frames[i]!)) {
        // Full again part way: the rest keeps waiting behind it, in order.
        this.inbox.push(...frames.slice(i + 1));
        return;
      }
    }
    this.updatePause();
  }

  private stillFull(f: StompFrame): boolean {
    if (f.command !== 'SEND') return false;
    const { input, tx } = sendInput(f, Date.now());
    return tx === undefined && this.broker.mustHold(input.dest, input.persistent);
  }

  /** Stop reading while sends are held or too many wait for the store; resume at a quarter of the limit. */
  private updatePause(): void {
    const want = this.inbox.length > 0 || this.pending >= MAX_PENDING || (this.paused && this.pending > MAX_PENDING / 4);
    if (want === this.paused || this.state === 'closed') return;
    this.paused = want;
    if (want) this.socket.pause();
    else this.socket.resume();
  }

  private onSubscribe(s: Session, f: StompFrame, receipt: string | undefined): void {
    const { id, destination, ack, mode, prefetch } = subscribeHeaders(f, this.version);
    const dest = brokerDestination(destination);
    const durable = f.headers.get('activemq.subscriptionName');
    if (durable !== undefined && s.clientId === null) {
      throw new StompError('SUBSCRIBE: a durable subscription (activemq.subscriptionName) needs a client-id header on CONNECT');
    }
    const sub = this.subs.add(id, ack, destination);
    try {
      // The RECEIPT goes out once every check has passed, before the subscription's first MESSAGE.
      s.subscribe({ sid: sub.sid, dest, ack: mode, prefetch, selector: f.headers.get('selector'), durable }, () => this.receipt(receipt));
    } catch (err) {
      this.subs.remove(sub);
      throw err;
    }
  }

  private onUnsubscribe(s: Session, f: StompFrame, receipt: string | undefined): void {
    const durable = f.headers.get('activemq.subscriptionName');
    const id = f.headers.get('id') ?? (this.version === '1.0' ? f.headers.get('destination') : undefined);
    if (id === undefined && durable === undefined) required(f, 'id');
    const sub = this.subs.find(f);
    if (sub !== undefined) {
      s.unsubscribe(sub.sid);
      this.subs.remove(sub);
      this.autoAcks.delete(sub.sid);
    } else if (durable === undefined) {
      throw new StompError(`UNSUBSCRIBE: no subscription ${JSON.stringify(id)} on this connection`);
    }
    if (durable === undefined) return this.receipt(receipt);
    // ActiveMQ: UNSUBSCRIBE naming activemq.subscriptionName removes the durable subscription and its backlog.
    const clientId = s.clientId;
    if (clientId === null) throw new StompError('UNSUBSCRIBE: removing a durable subscription needs a client-id header on CONNECT');
    this.async(receipt, (done) => void this.broker.unsubscribeDurable(clientId, durable).then(() => done(), done));
  }

  /** ACK (cumulative in client mode) or NACK (always of the one message). */
  private onAck(s: Session, f: StompFrame): void {
    const { sub, tag } = this.subs.target(f);
    const tx = f.headers.get('transaction');
    if (f.command === 'ACK') {
      const upto = sub.ack === 'client';
      s.ack(sub.sid, tag, upto, tx);
      this.subs.settled(sub, tag, upto);
      return;
    }
    if (tx !== undefined) throw new StompError('NACK inside a transaction is not supported: ABORT the transaction to give its messages back');
    s.nack(sub.sid, tag, false);
    this.subs.settled(sub, tag, false);
  }

  /** Auto-ack deliveries are consumed once written: after each flush, or when the socket drains if it is backed up. */
  private scheduleAutoAcks(): void {
    if (this.autoAcks.size === 0 || this.autoAckScheduled) return;
    this.autoAckScheduled = true;
    setImmediate(() => this.ackWritten());
  }

  private ackWritten(): void {
    if (this.state !== 'open' || this.session === null) return;
    if (this.socket.writableLength > AUTO_ACK_BACKLOG) {
      this.socket.once('drain', () => this.ackWritten());
      return;
    }
    this.autoAckScheduled = false;
    const acks = this.autoAcks;
    this.autoAcks = new Map();
    for (const [sid, tag] of acks) {
      if (!this.subs.bySid.has(sid)) continue;
      try {
        this.session.ack(sid, tag, true);
      } catch (err) {
        this.log.debug({ err, sid }, 'auto ack skipped');
      }
    }
  }

  private receipt(receipt: string | undefined): void {
    if (receipt === undefined || this.state === 'closed') return;
    this.writer.write(encodeFrame('RECEIPT', [['receipt-id', receipt]], null, this.version));
  }

  private cleanup(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.heartbeat.stop();
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.inboxTimer) clearTimeout(this.inboxTimer);
    this.inbox = [];
    this.session?.close();
    this.onClosed(this);
  }
}

/** STOMP over TCP (`stomp://`), as ActiveMQ serves it on 61613. */
export const STOMP_PROTOCOL: WireProtocol = {
  open: (socket, broker, options, logger, onClosed) => new StompConnection(socket, broker, options, logger, onClosed),
  refusal: (message) => encodeError(message, null),
};
