import type { Socket } from 'node:net';
import type { BrokerMessage } from '../../model/message.js';
import type { Done, FlowListener, Session, SessionHost } from '../../broker/session.js';
import type { DeliverySink, Subscription } from '../../broker/subscription.js';
import { FerryError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { VERSION } from '../../version.js';
import { InactivityMonitor } from '../inactivity.js';
import { CONNECT_TIMEOUT_MS } from '../native-connection.js';
import { endSocket } from '../socket.js';
import type { ProtocolConnection, WireProtocol } from '../tcp-server.js';
import type { ConnectorOptions } from '../uri.js';
import { CONGESTED_BYTES } from '../writer.js';
import { encodeError, encodeFrame, StompWriter } from './encoder.js';
import { heartbeatTiming, negotiateHeartbeat, parseHeartBeat } from './heartbeat.js';
import { brokerDestination, messageFrame, required, sendInput, StompError } from './mapping.js';
import { STOMP_VERSIONS, type StompFrame, StompParseError, StompParser, type StompVersion } from './parser.js';
import { subscribeHeaders, SubscriptionTable } from './subscriptions.js';

/** Auto-ack deliveries count as consumed once written, unless this much output is still waiting for the kernel. */
const AUTO_ACK_BACKLOG = 1024 * 1024;

/** `authenticating`: CONNECT is with the broker's authenticate hook; frames that follow wait, in order. */
type State = 'connecting' | 'authenticating' | 'open' | 'closing' | 'closed';

/**
 * One STOMP connection on the broker side: frames in, calls on a core {@link Session}, frames out. Per STOMP 1.2 an
 * ERROR frame ends the connection: every problem (malformed frame, unknown command, missing header, refused
 * operation) is answered with an ERROR whose `message` header names it, then the socket is closed. Nothing here
 * touches another connection.
 *
 * Producer flow control lives in the Session. STOMP cannot tell a client it is blocked, so the socket stops being
 * read at the first held send (as ActiveMQ does), and every frame already read waits behind it, in order.
 */
export class StompConnection implements DeliverySink, FlowListener, ProtocolConnection {
  private state: State = 'connecting';
  private version: StompVersion = '1.0';
  private readonly parser: StompParser;
  private readonly writer: StompWriter;
  private readonly monitor = new InactivityMonitor();
  private session: Session | null = null;
  private readonly subs = new SubscriptionTable(() => this.version);
  /** Frames that arrived while CONNECT was being authenticated. */
  private early: StompFrame[] = [];
  /** Reads paused by the session's flow control. */
  private flowPaused = false;
  /** Auto-ack deliveries written but not yet acked: the highest tag per subscription. */
  private autoAcks = new Map<number, number>();
  private autoAckScheduled = false;
  private connectTimer: NodeJS.Timeout | null;
  private readonly log: Logger;
  readonly remote: string;

  constructor(
    private readonly socket: Socket,
    private readonly broker: SessionHost,
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
    this.connectTimer = setTimeout(
      () => this.fail(this.state === 'authenticating' ? `authentication did not complete within ${CONNECT_TIMEOUT_MS} ms` : `no CONNECT frame within ${CONNECT_TIMEOUT_MS} ms`),
      CONNECT_TIMEOUT_MS,
    );
    this.connectTimer.unref();
  }

  /** Send an ERROR frame naming the problem, then close. */
  fail(message: string, receipt?: string, extra: [string, string][] = []): void {
    if (this.state === 'closed') return;
    this.log.info({ receipt }, 'STOMP error: %s', message);
    const headers = receipt === undefined ? extra : [['receipt-id', receipt] as [string, string], ...extra];
    this.writer.write(encodeError(message, this.state === 'connecting' || this.state === 'authenticating' ? null : this.version, headers));
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

  // ---- FlowListener: STOMP has no frame for it; the socket is simply not read --------------------------------------

  blocked(info: { memoryUsage: number; memoryLimit: number }): void {
    this.log.info(info, 'STOMP producer blocked: memory limit reached');
  }

  pauseReading(): void {
    this.flowPaused = true;
    if (this.state !== 'closed') this.socket.pause();
  }

  resumeReading(): void {
    this.flowPaused = false;
    if (this.state !== 'closed' && this.state !== 'authenticating') this.socket.resume();
  }

  // ---- frames in ---------------------------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.monitor.lastRead = Date.now();
    try {
      this.parser.push(chunk, (f) => this.onFrame(f));
    } catch (err) {
      if (!(err instanceof StompParseError)) this.log.error({ err }, 'internal error reading a STOMP frame');
      this.fail((err as Error).message, (err as StompParseError).receipt);
    }
  }

  private onFrame(f: StompFrame): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    if (this.state === 'authenticating') {
      this.early.push(f);
      return;
    }
    const s = this.session;
    // Behind a held send every frame waits its turn, acks included (STOMP orders them all).
    if (s !== null && s.holding) s.inOrder(() => this.process(f));
    else this.process(f);
  }

  private process(f: StompFrame): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    try {
      this.handle(f);
    } catch (err) {
      if (!(err instanceof StompError) && !(err instanceof FerryError)) this.log.error({ err }, 'internal error handling %s', f.command);
      this.fail(`${(err as Error).message}`, f.headers.get('receipt'));
    }
  }

  /** Dispatch one frame; connection state is enforced here (CONNECT first, once). */
  private handle(f: StompFrame): void {
    if (this.state === 'connecting') {
      if (f.command !== 'CONNECT' && f.command !== 'STOMP') throw new StompError(`${f.command} before CONNECT: the first frame must be CONNECT or STOMP`);
      return this.onConnect(f);
    }
    const s = this.session!;
    const receipt = f.headers.get('receipt');
    switch (f.command) {
      case 'SEND': {
        const { input, tx } = sendInput(f, Date.now());
        return this.answer(receipt, (done) => s.send(input, done, tx));
      }
      case 'SUBSCRIBE':
        return this.onSubscribe(s, f, receipt);
      case 'UNSUBSCRIBE':
        return this.onUnsubscribe(s, f, receipt);
      case 'ACK':
      case 'NACK':
        this.onAck(s, f);
        return this.receipt(receipt);
      case 'BEGIN': {
        const tx = required(f, 'transaction');
        return this.answer(receipt, (done) => s.begin(tx, done));
      }
      case 'COMMIT': {
        const tx = required(f, 'transaction');
        return this.answer(receipt, (done) => s.commit(tx, done));
      }
      case 'ABORT': {
        const tx = required(f, 'transaction');
        return this.answer(receipt, (done) => s.abort(tx, done));
      }
      case 'DISCONNECT':
        // RECEIPT once every earlier send, commit and durable removal has been answered and stored.
        this.state = 'closing';
        return s.disconnect((err) => {
          if (this.state !== 'closing') return;
          if (err) return this.fail(err.message, receipt);
          this.receipt(receipt);
          this.close();
        });
      case 'CONNECT':
      case 'STOMP':
        throw new StompError(`second ${f.command} on one connection`);
      default:
        throw new StompError(`unknown command ${JSON.stringify(f.command.slice(0, 40))}`);
    }
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
    this.state = 'authenticating';
    this.broker.openSession(
      {
        clientId: clientId === '' ? undefined : clientId,
        user: f.headers.get('login'),
        password: f.headers.get('passcode'),
        remote: this.remote,
        protocol: 'stomp',
        sink: this,
        flow: this,
        // No way to tell a STOMP client it is blocked: stop reading at the first held send.
        maxHeld: 1,
      },
      (err, session) => this.onSession(f, version, hb, err, session),
    );
    // An authenticate hook that answers later: frames already read wait in `early`, the socket waits unread.
    if (this.state === 'authenticating') this.socket.pause();
  }

  private onSession(f: StompFrame, version: StompVersion, hb: [number, number] | null, err: FerryError | null, session: Session | null): void {
    if (this.state !== 'authenticating') {
      session?.close(); // the connection ended while the hook decided
      return;
    }
    if (err !== null || session === null) return this.fail(err?.message ?? 'no session', f.headers.get('receipt'));
    const accept = f.headers.get('accept-version');
    const hbHeader = f.headers.get('heart-beat');
    const plan = negotiateHeartbeat(hb, this.options.maxInactivityDurationMs);
    this.session = session;
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
    this.monitor.start({
      ...heartbeatTiming(plan),
      lastWrite: () => this.writer.lastWrite,
      keepAlive: () => this.writer.heartbeat(),
      dead: (silent) =>
        this.fail(
          `no frame or heart-beat from the client for ${silent} ms (limit ${limit} ms from wireFormat.maxInactivityDuration=` +
            `${this.options.maxInactivityDurationMs} ms; the client offered heart-beats every ${plan.clientSendsMs} ms)`,
        ),
      readingPaused: () => this.flowPaused,
    });
    this.log.debug({ clientId: f.headers.get('client-id'), version, heartbeat: plan.header }, 'STOMP connected');
    const early = this.early;
    this.early = [];
    for (const e of early) this.onFrame(e);
    if (!this.flowPaused && this.state === 'open') this.socket.resume();
  }

  /** Run an operation answered through a callback: RECEIPT when it succeeds, ERROR (and close) when it fails. */
  private answer(receipt: string | undefined, op: (done: Done) => void): void {
    op((err) => {
      if (err) this.fail(err.message, receipt);
      else this.receipt(receipt);
    });
  }

  private onSubscribe(s: Session, f: StompFrame, receipt: string | undefined): void {
    const { id, destination, ack, mode, prefetch } = subscribeHeaders(f, this.version);
    const dest = brokerDestination(destination);
    const durable = f.headers.get('activemq.subscriptionName');
    if (durable !== undefined && s.clientId === null) {
      throw new StompError('SUBSCRIBE: a durable subscription (activemq.subscriptionName) needs a client-id header on CONNECT');
    }
    const sub = this.subs.add(id, ack, destination);
    // The RECEIPT goes out once every check has passed, before the subscription's first MESSAGE.
    s.subscribe({ sid: sub.sid, dest, ack: mode, prefetch, selector: f.headers.get('selector'), durable }, (err) => {
      if (err === null) return this.receipt(receipt);
      this.subs.remove(sub);
      this.fail(err.message, receipt);
    });
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
    if (s.clientId === null) throw new StompError('UNSUBSCRIBE: removing a durable subscription needs a client-id header on CONNECT');
    this.answer(receipt, (done) => s.unsubscribeDurable(durable, done));
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
    this.monitor.stop();
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.early = [];
    this.session?.close();
    this.onClosed(this);
  }
}

/** STOMP over TCP (`stomp://`), as ActiveMQ serves it on 61613. */
export const STOMP_PROTOCOL: WireProtocol = {
  open: (socket, broker, options, logger, onClosed) => new StompConnection(socket, broker, options, logger, onClosed),
  refusal: (message) => encodeError(message, null),
};
