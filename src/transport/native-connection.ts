import type { Socket } from 'node:net';
import type { BrokerMessage } from '../model/message.js';
import type { FlowListener, Session, SessionHost } from '../broker/session.js';
import type { DeliverySink, Subscription } from '../broker/subscription.js';
import { CONGESTED_BYTES } from './writer.js';
import { FerryError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BrowseCmd, ClientCommand, ConnectCmd, SendCmd, SubscribeCmd, UnsubscribeCmd } from '../protocol/commands.js';
import { PROTOCOL_VERSIONS } from '../protocol/commands.js';
import { decodeBody } from '../protocol/codec.js';
import { decodeSend } from '../protocol/hot-decode.js';
import { decodePlainSendInput, type PlainSendInput, plainSendRid } from '../protocol/hot-send.js';
import { browsedOf, sendInputOf } from '../model/wire.js';
import { FrameDecoder } from '../protocol/frame.js';
import { validateClientCommand } from '../protocol/validate.js';
import { InactivityMonitor, nativeInactivity, negotiateInactivity } from './inactivity.js';
import { endSocket } from './socket.js';
import type { ConnectorOptions } from './uri.js';
import { FrameWriter } from './writer.js';
import { VERSION } from '../version.js';

/** Prefetch when SUBSCRIBE names none (ActiveMQ's queue prefetch). */
export const DEFAULT_PREFETCH = 1000;
/** A connection that has not sent CONNECT within this long is closed. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** `authenticating`: CONNECT is with the broker's authenticate hook; frames that follow wait, in order.
 * `closing`: DISCONNECT received, waiting for earlier sends to be stored; later frames are ignored. */
type State = 'connecting' | 'authenticating' | 'open' | 'closing' | 'closed';

/**
 * One native-protocol connection on the broker side: frames in, calls on a core {@link Session}, frames out. Flow
 * control, ordering behind held sends and the DISCONNECT barrier live in the Session; this class only turns its
 * signals into FLOW frames and a paused socket. Everything that goes wrong here is this connection's problem: it
 * gets an ERROR frame, and at worst is closed.
 */
export class NativeConnection implements DeliverySink, FlowListener {
  private state: State = 'connecting';
  private readonly decoder: FrameDecoder;
  private readonly writer: FrameWriter;
  private readonly monitor = new InactivityMonitor();
  private session: Session | null = null;
  private connectTimer: NodeJS.Timeout | null;
  /** Frames that arrived while CONNECT was being authenticated. */
  private early: Buffer[] = [];
  /** Reads paused by the session's flow control. */
  private flowPaused = false;
  /** Times producer flow control blocked this connection. */
  private blocks = 0;
  private readonly log: Logger;
  readonly remote: string;

  constructor(
    private readonly socket: Socket,
    private readonly broker: SessionHost,
    private readonly options: ConnectorOptions,
    logger: Logger,
    private readonly onClosed: (c: NativeConnection) => void,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.log = logger.child({ conn: this.remote });
    this.decoder = new FrameDecoder(options.maxFrameSize);
    this.writer = new FrameWriter(socket);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err }, 'socket error'));
    socket.on('close', () => this.cleanup());
    // Deliveries paused while the socket was congested resume once it drains.
    socket.on('drain', () => this.session?.resumeDelivery());
    this.connectTimer = setTimeout(() => this.connectTimedOut(), CONNECT_TIMEOUT_MS);
    this.connectTimer.unref();
  }

  /** Close with an ERROR frame first, so the peer knows why. */
  fail(code: string, message: string, rid?: number): void {
    if (this.state === 'closed') return;
    this.log.info({ code }, message);
    this.writer.write(rid === undefined ? { t: 'ERROR', code, message, fatal: true } : { t: 'ERROR', rid, code, message, fatal: true });
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
    this.writer.writeMessage(sub.sid, tag, m);
  }

  // ---- FlowListener: producer flow control as the native protocol says it (PROTOCOL.md §7) ------------------------

  blocked(info: { memoryUsage: number; memoryLimit: number }): void {
    if (this.state === 'closed') return;
    this.writer.write({ t: 'FLOW', blocked: true });
    // A producer faster than its consumers is blocked and released over and over: say so once per connection.
    if (this.blocks++ === 0) this.log.info(info, 'producer blocked: memory limit reached (again: logged at debug)');
    else this.log.debug(info, 'producer blocked: memory limit reached');
  }

  unblocked(): void {
    if (this.state !== 'closed') this.writer.write({ t: 'FLOW', blocked: false });
  }

  pauseReading(): void {
    this.flowPaused = true;
    this.socket.pause();
  }

  resumeReading(): void {
    this.flowPaused = false;
    if (this.state !== 'authenticating') this.socket.resume();
  }

  // ---- frames in ---------------------------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.monitor.lastRead = Date.now();
    try {
      this.decoder.pushSpans(chunk, this.onSpan);
    } catch (err) {
      // Only the decoder throws here: an oversize frame. Its body is never buffered.
      const e = err as FerryError;
      this.fail(e.code ?? 'FERRY_MALFORMED_FRAME', e.message);
    }
  }

  /** One frame body, `buf[start, end)`, from the decoder. */
  private readonly onSpan = (buf: Buffer, start: number, end: number): void => this.onFrame(buf, start, end);

  private onFrame(buf: Buffer, start = 0, end = buf.length): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    if (this.state === 'authenticating') {
      this.early.push(buf.subarray(start, end));
      return;
    }
    // A plain SEND (nearly every frame) is read straight off the bytes into the broker's input, with no view of the
    // frame and no command object made; other SENDs by the general fast reader; everything else, and every SEND the
    // fast readers do not take, goes through msgpackr and the validator.
    if (this.state === 'open') {
      const input = decodePlainSendInput(buf, start, end);
      if (input !== undefined) return this.onPlainSend(input, plainSendRid);
    }
    let cmd: ClientCommand | undefined = this.state === 'open' ? decodeSend(buf, start, end) : undefined;
    if (cmd === undefined) {
      let raw: unknown;
      try {
        raw = decodeBody(buf.subarray(start, end));
        cmd = validateClientCommand(raw);
      } catch (err) {
        const e = err as FerryError;
        if (this.state === 'connecting') return this.fail(e.code, e.message);
        // A request that carried a usable rid gets its answer, so the client's wait for it ends.
        const rid = (raw as { rid?: unknown } | undefined)?.rid;
        const answered = typeof rid === 'number' && Number.isSafeInteger(rid) && rid >= 0;
        this.writer.write(answered ? { t: 'ERROR', rid, code: e.code, message: e.message } : { t: 'ERROR', code: e.code, message: e.message });
        return;
      }
    }
    try {
      this.handle(cmd);
    } catch (err) {
      const e = err instanceof FerryError ? err : new FerryError('FERRY_INTERNAL', String((err as Error)?.message ?? err));
      if (!(err instanceof FerryError)) this.log.error({ err }, 'internal error handling %s', cmd.t);
      this.answer((cmd as { rid?: number }).rid, e);
    }
  }

  /**
   * Dispatch one command; connection state is enforced here (PROTOCOL.md §3: CONNECT first, once). Commands that
   * answer through a callback may be held by producer flow control (§7); the rest act at once and may throw.
   */
  private handle(cmd: ClientCommand): void {
    if (this.state === 'connecting') {
      if (cmd.t !== 'CONNECT') return this.fail('FERRY_NOT_CONNECTED', `${cmd.t} before CONNECT`);
      return this.onConnect(cmd);
    }
    const s = this.session!;
    const rid = (cmd as { rid?: number }).rid;
    switch (cmd.t) {
      case 'SEND':
        return this.onSend(s, cmd);
      case 'ACK':
        s.ack(cmd.sid, cmd.tag, cmd.upto === true, cmd.tx);
        return this.receipt(rid);
      case 'NACK':
        if (cmd.tx !== undefined) throw new FerryError('FERRY_NOT_SUPPORTED', 'NACK inside a transaction: use ABORT');
        s.nack(cmd.sid, cmd.tag, false);
        return this.receipt(rid);
      case 'SUBSCRIBE':
        return this.onSubscribe(s, cmd);
      case 'UNSUBSCRIBE':
        return this.onUnsubscribe(s, cmd);
      case 'PING':
        return this.writer.write({ t: 'PONG' });
      case 'DISCONNECT':
        // Receipted only once every earlier send is on disk, so the client may take the receipt as "all done".
        this.state = 'closing';
        return s.disconnect((err) => {
          if (this.state !== 'closing') return;
          this.answer(rid, err);
          this.close();
        });
      case 'CONNECT':
        return this.fail('FERRY_ALREADY_CONNECTED', 'second CONNECT on one connection');
      case 'BEGIN':
        return s.begin(cmd.tx, (err) => this.answer(rid, err));
      case 'COMMIT':
        return s.commit(cmd.tx, (err) => this.answer(rid, err));
      case 'ABORT':
        return s.abort(cmd.tx, (err) => this.answer(rid, err));
      case 'STATS':
        return this.receipt(rid, s.stats());
      case 'INFO':
        return this.receipt(rid, s.info());
      case 'BROWSE':
        return this.receipt(rid, this.browse(s, cmd));
      case 'PURGE':
        return this.later(rid, s.purge(cmd.dest));
      case 'DELETE':
        return this.later(rid, s.deleteDestination(cmd.dest));
    }
  }

  private onConnect(cmd: ConnectCmd): void {
    const v = Math.max(...cmd.v.filter((x) => PROTOCOL_VERSIONS.includes(x)));
    if (!Number.isFinite(v)) {
      return this.fail('FERRY_VERSION', `no common protocol version: client speaks ${cmd.v.join(',')}, broker ${PROTOCOL_VERSIONS.join(',')}`);
    }
    this.state = 'authenticating';
    this.broker.openSession(
      { clientId: cmd.clientId, user: cmd.user, password: cmd.password, remote: this.remote, protocol: 'native', sink: this, flow: this },
      (err, session) => this.onSession(cmd, v, err, session),
    );
    // An authenticate hook that answers later: frames already read wait in `early`, the socket waits unread.
    if (this.state === 'authenticating') this.socket.pause();
  }

  private onSession(cmd: ConnectCmd, v: number, err: FerryError | null, session: Session | null): void {
    if (this.state !== 'authenticating') {
      session?.close(); // the connection ended while the hook decided
      return;
    }
    if (err !== null || session === null) return this.fail(err?.code ?? 'FERRY_INTERNAL', err?.message ?? 'no session');
    this.session = session;
    this.state = 'open';
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    const heartbeat = negotiateInactivity(this.options.maxInactivityDurationMs, cmd.heartbeat);
    this.writer.write({
      t: 'CONNECTED',
      v,
      broker: this.broker.name,
      version: VERSION,
      maxFrameSize: this.options.maxFrameSize,
      heartbeat,
      session: `${this.broker.id}:${this.remote}`,
    });
    this.monitor.start({
      ...nativeInactivity(heartbeat),
      lastWrite: () => this.writer.lastWrite,
      keepAlive: () => this.writer.write({ t: 'PING' }),
      dead: (silent) => this.fail('FERRY_INACTIVITY', `no frame from the client for ${silent} ms (inactivity duration ${heartbeat} ms)`),
      // The broker paused this socket (flow control): the client's frames wait unread, they are not missing.
      readingPaused: () => this.flowPaused,
    });
    this.log.debug({ clientId: cmd.clientId, heartbeat }, 'connected');
    const early = this.early;
    this.early = [];
    for (const body of early) this.onFrame(body);
    if (!this.flowPaused && this.state === 'open') this.socket.resume();
  }

  private connectTimedOut(): void {
    if (this.state === 'authenticating') this.fail('FERRY_AUTHENTICATION_FAILED', `authentication did not complete within ${CONNECT_TIMEOUT_MS} ms`);
    else this.fail('FERRY_PROTOCOL', `no CONNECT within ${CONNECT_TIMEOUT_MS} ms`);
  }

  private onSend(s: Session, cmd: SendCmd): void {
    const rid = cmd.rid;
    const input = sendInputOf(cmd);
    // A send without a receipt (every non-persistent one from the bundled client) shares one answer callback.
    s.send(input, rid === undefined ? this.answerUnasked : (err) => this.answer(rid, err), cmd.tx);
  }

  /** {@link onSend} for a plain SEND (never in a transaction), with {@link handle}'s answer to an internal error. */
  private onPlainSend(input: PlainSendInput, rid: number | undefined): void {
    try {
      this.session!.send(input, rid === undefined ? this.answerUnasked : (err) => this.answer(rid, err));
    } catch (err) {
      const e = err instanceof FerryError ? err : new FerryError('FERRY_INTERNAL', String((err as Error)?.message ?? err));
      if (!(err instanceof FerryError)) this.log.error({ err }, 'internal error handling SEND');
      this.answer(rid, e);
    }
  }

  /** The answer to a SEND that asked for no receipt: only an error goes back. */
  private readonly answerUnasked = (err?: Error): void => this.answer(undefined, err);

  private onSubscribe(s: Session, cmd: SubscribeCmd): void {
    // Deliveries start inside subscribe(); the receipt is written first so the client knows the sid.
    const rid = cmd.rid;
    const input = {
      sid: cmd.sid,
      dest: cmd.dest,
      ack: cmd.ack ?? 'auto',
      prefetch: cmd.prefetch ?? DEFAULT_PREFETCH,
      selector: cmd.selector,
      durable: cmd.durable,
      priority: cmd.priority,
      remoteNetwork: cmd.network === undefined ? undefined : { peer: cmd.network.peer, path: cmd.network.path ?? [], ttl: cmd.network.ttl },
    };
    s.subscribe(input, (err) => this.answer(rid, err ?? undefined));
  }

  private onUnsubscribe(s: Session, cmd: UnsubscribeCmd): void {
    if (cmd.sid !== undefined) {
      s.unsubscribe(cmd.sid);
      return this.receipt(cmd.rid);
    }
    const rid = cmd.rid;
    s.unsubscribeDurable(cmd.durable!, (err) => this.answer(rid, err));
  }

  private browse(s: Session, cmd: BrowseCmd): unknown[] {
    return s.browse(cmd.dest, cmd.max ?? 1000).map(browsedOf);
  }

  /** RECEIPT with the promised value, or ERROR, for `rid`. */
  private later(rid: number | undefined, p: Promise<unknown>): void {
    p.then(
      (data) => this.receipt(rid, data),
      (err: Error) => this.answer(rid, err),
    );
  }

  /** RECEIPT for `rid`, or an ERROR carrying it; an error with no rid still reaches the client. */
  private answer(rid: number | undefined, err: Error | undefined): void {
    if (this.state === 'closed') return;
    if (err) {
      const code = (err as FerryError).code ?? 'FERRY_INTERNAL';
      this.writer.write(rid === undefined ? { t: 'ERROR', code, message: err.message } : { t: 'ERROR', rid, code, message: err.message });
    } else if (rid !== undefined) {
      this.writer.writeReceipt(rid);
    }
  }

  private receipt(rid: number | undefined, data?: unknown): void {
    if (rid === undefined || this.state === 'closed') return;
    if (data === undefined) this.writer.writeReceipt(rid);
    else this.writer.write({ t: 'RECEIPT', rid, data });
  }

  private cleanup(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.monitor.stop();
    this.early = [];
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.session?.close();
    this.onClosed(this);
  }
}
