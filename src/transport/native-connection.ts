import type { Socket } from 'node:net';
import type { Broker } from '../broker/broker.js';
import type { BrokerMessage } from '../model/message.js';
import type { Session } from '../broker/session.js';
import type { DeliverySink, Subscription } from '../broker/subscription.js';
import { CONGESTED_BYTES } from './writer.js';
import { FerryError } from '../errors.js';
import type { Logger } from '../log.js';
import type {
  AckCmd,
  BrowseCmd,
  ClientCommand,
  ConnectCmd,
  NackCmd,
  PurgeCmd,
  SendCmd,
  SubscribeCmd,
  UnsubscribeCmd,
} from '../protocol/commands.js';
import { PROTOCOL_VERSIONS } from '../protocol/commands.js';
import { decodeBody } from '../protocol/codec.js';
import { browsedOf, messageCmdOf, sendInputOf } from '../model/wire.js';
import { FrameDecoder } from '../protocol/frame.js';
import { validateClientCommand } from '../protocol/validate.js';
import { InactivityMonitor, negotiateInactivity } from './inactivity.js';
import { endSocket } from './socket.js';
import type { ConnectorOptions } from './uri.js';
import { FrameWriter } from './writer.js';
import { VERSION } from '../version.js';

/** Prefetch when SUBSCRIBE names none (ActiveMQ's queue prefetch). */
export const DEFAULT_PREFETCH = 1000;
/** A connection that has not sent CONNECT within this long is closed. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** Stop reading a producer's socket while this many of its sends wait for the store; resume at a quarter. */
const MAX_PENDING_SENDS = 8192;
/** Sends held by producer flow control before the socket is paused as well. */
const MAX_HELD_SENDS = 1000;
/** Commands that keep their place behind a held send; the rest (acks, admin reads) go on at once. */
const WAITS_BEHIND_HELD = new Set<ClientCommand['t']>(['SEND', 'BEGIN', 'COMMIT', 'ABORT', 'SUBSCRIBE', 'DISCONNECT']);

/** A send outside a transaction: the kind producer flow control may hold. */
function plainSend(cmd: ClientCommand): cmd is SendCmd {
  return cmd.t === 'SEND' && cmd.tx === undefined;
}

/** `closing`: DISCONNECT received, waiting for earlier sends to be stored; later frames are ignored. */
type State = 'connecting' | 'open' | 'closing' | 'closed';

/**
 * One native-protocol connection on the broker side: frames in, calls on a core {@link Session}, frames out.
 * Everything that goes wrong here is this connection's problem: it gets an ERROR frame, and at worst is closed.
 */
export class NativeConnection implements DeliverySink {
  private state: State = 'connecting';
  private readonly decoder: FrameDecoder;
  private readonly writer: FrameWriter;
  private readonly monitor = new InactivityMonitor();
  private session: Session | null = null;
  private connectTimer: NodeJS.Timeout | null;
  private pendingSends = 0;
  private paused = false;
  /** Commands waiting for memory (producer flow control), in arrival order. */
  private held: { cmd: ClientCommand; at: number }[] = [];
  private heldTimer: NodeJS.Timeout | null = null;
  private readonly log: Logger;
  readonly remote: string;

  constructor(
    private readonly socket: Socket,
    private readonly broker: Broker,
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
    this.connectTimer = setTimeout(() => this.fail('FERRY_PROTOCOL', `no CONNECT within ${CONNECT_TIMEOUT_MS} ms`), CONNECT_TIMEOUT_MS);
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
    this.writer.writeWithBody(messageCmdOf(m, sub.sid, tag), m.body);
  }

  private onData(chunk: Buffer): void {
    this.monitor.lastRead = Date.now();
    try {
      this.decoder.push(chunk, (body) => this.onFrame(body));
    } catch (err) {
      // Only the decoder throws here: an oversize frame. Its body is never buffered.
      const e = err as FerryError;
      this.fail(e.code ?? 'FERRY_MALFORMED_FRAME', e.message);
    }
  }

  private onFrame(body: Buffer): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    let cmd: ClientCommand;
    let raw: unknown;
    try {
      raw = decodeBody(body);
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
    try {
      this.handle(cmd);
    } catch (err) {
      const e = err instanceof FerryError ? err : new FerryError('FERRY_INTERNAL', String((err as Error)?.message ?? err));
      if (!(err instanceof FerryError)) this.log.error({ err }, 'internal error handling %s', cmd.t);
      const rid = (cmd as { rid?: number }).rid;
      this.writer.write(rid === undefined ? { t: 'ERROR', code: e.code, message: e.message } : { t: 'ERROR', rid, code: e.code, message: e.message });
    }
  }

  /** Dispatch one command; connection state is enforced here (PROTOCOL.md §3: CONNECT first, once). */
  private handle(cmd: ClientCommand): void {
    if (this.state === 'connecting') {
      if (cmd.t !== 'CONNECT') return this.fail('FERRY_NOT_CONNECTED', `${cmd.t} before CONNECT`);
      return this.onConnect(cmd);
    }
    const s = this.session!;
    // Producer flow control: once a send is held, every command whose order matters waits behind it.
    if (this.held.length > 0 ? WAITS_BEHIND_HELD.has(cmd.t) : this.mustWait(cmd)) {
      return this.hold(s, cmd);
    }
    switch (cmd.t) {
      case 'SEND':
        return this.onSend(s, cmd);
      case 'ACK':
        return this.onAck(s, cmd);
      case 'NACK':
        return this.onNack(s, cmd);
      case 'SUBSCRIBE':
        return this.onSubscribe(s, cmd);
      case 'UNSUBSCRIBE':
        return this.onUnsubscribe(s, cmd);
      case 'PING':
        return this.writer.write({ t: 'PONG' });
      case 'DISCONNECT': {
        // Receipted only once every earlier send is on disk, so the client may take the receipt as "all done".
        const rid = cmd.rid;
        this.state = 'closing';
        return this.broker.store.barrier(() => {
          if (this.state !== 'closing') return;
          this.state = 'open';
          this.receipt(rid);
          this.close();
        });
      }
      case 'CONNECT':
        return this.fail('FERRY_ALREADY_CONNECTED', 'second CONNECT on one connection');
      case 'BEGIN':
        s.begin(cmd.tx);
        return this.receipt(cmd.rid);
      case 'COMMIT': {
        const rid = cmd.rid;
        return s.commit(cmd.tx, (err) => this.answer(rid, err));
      }
      case 'ABORT':
        s.abort(cmd.tx);
        return this.receipt(cmd.rid);
      case 'STATS':
        return this.receipt(cmd.rid, this.broker.stats());
      case 'INFO':
        return this.receipt(cmd.rid, this.broker.info());
      case 'BROWSE':
        return this.onBrowse(cmd);
      case 'PURGE':
        return this.onPurge(cmd);
      case 'DELETE': {
        const rid = cmd.rid;
        return void this.broker.deleteDestination(cmd.dest).then(
          (n) => this.receipt(rid, n),
          (err: Error) => this.answer(rid, err),
        );
      }
    }
  }

  private onConnect(cmd: ConnectCmd): void {
    const v = Math.max(...cmd.v.filter((x) => PROTOCOL_VERSIONS.includes(x)));
    if (!Number.isFinite(v)) {
      return this.fail('FERRY_VERSION', `no common protocol version: client speaks ${cmd.v.join(',')}, broker ${PROTOCOL_VERSIONS.join(',')}`);
    }
    this.session = this.broker.createSession({ clientId: cmd.clientId, remote: this.remote }, this);
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
    this.monitor.start(
      heartbeat,
      () => this.writer.lastWrite,
      () => this.writer.write({ t: 'PING' }),
      (silent) => this.fail('FERRY_INACTIVITY', `no frame from the client for ${silent} ms (inactivity duration ${heartbeat} ms)`),
    );
    this.log.debug({ clientId: cmd.clientId, heartbeat }, 'connected');
  }

  private onSend(s: Session, cmd: SendCmd): void {
    const rid = cmd.rid;
    const input = sendInputOf(cmd);
    this.pendingSends++;
    if (this.pendingSends >= MAX_PENDING_SENDS && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    try {
      s.send(input, (err) => this.sendDone(rid, err), cmd.tx);
    } catch (err) {
      this.pendingSends--;
      throw err;
    }
  }

  /**
   * Producer flow control: the broker's memory is full, so this send waits, and every later command whose order
   * matters waits behind it (a COMMIT must not overtake its held send, nor DISCONNECT the sends it follows). ACKs
   * and read-only commands go on, so a connection that also consumes can ack its way out; past MAX_HELD_SENDS the
   * socket is paused too.
   */
  private hold(s: Session, cmd: ClientCommand): void {
    this.held.push({ cmd, at: Date.now() });
    if (this.held.length === 1) {
      this.writer.write({ t: 'FLOW', blocked: true });
      this.log.info({ memoryUsage: this.broker.memoryUsage, memoryLimit: this.broker.memoryLimit }, 'producer blocked: memory limit reached');
      this.broker.whenMemoryAvailable(() => this.release(s));
      const timeout = this.broker.sendFailIfNoSpaceAfterTimeoutMs;
      if (timeout >= 0 && this.heldTimer === null) {
        this.heldTimer = setInterval(() => this.failHeld(timeout), Math.max(10, Math.floor(timeout / 4)));
        this.heldTimer.unref();
      }
    }
    if (this.held.length >= MAX_HELD_SENDS && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /**
   * sendFailIfNoSpaceAfterTimeout: sends held longer than `timeout` fail with a clear error; a command that was
   * waiting behind them runs once they are gone.
   */
  private failHeld(timeout: number): void {
    const now = Date.now();
    while (this.held.length > 0) {
      const { cmd, at } = this.held[0]!;
      if (plainSend(cmd)) {
        if (now - at < timeout) break;
        this.held.shift();
        const dest = (cmd as SendCmd).dest;
        this.answer(
          (cmd as SendCmd).rid,
          new FerryError(
            'FERRY_RESOURCE_EXHAUSTED',
            `send to ${dest} failed: broker memory limit (${this.broker.memoryLimit} bytes) reached and still full after sendFailIfNoSpaceAfterTimeout=${timeout} ms`,
          ),
        );
      } else {
        this.held.shift();
        this.run(cmd);
      }
    }
    this.resumeIfDrained();
    if (this.held.length === 0) this.stopHeldTimer();
  }

  private stopHeldTimer(): void {
    if (this.heldTimer !== null) clearInterval(this.heldTimer);
    this.heldTimer = null;
  }

  private resumeIfDrained(): void {
    if (this.paused && this.held.length < MAX_HELD_SENDS && this.pendingSends < MAX_PENDING_SENDS) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private release(s: Session): void {
    if (this.state === 'closed') return;
    // Memory was freed somewhere; if the send at the head still has no room, keep waiting quietly (no FLOW
    // flapping, and the sendFailIfNoSpaceAfterTimeout deadline keeps running).
    const head = this.held[0]?.cmd;
    if (head !== undefined && this.mustWait(head)) {
      this.broker.whenMemoryAvailable(() => this.release(s));
      return;
    }
    this.stopHeldTimer();
    const held = this.held;
    this.held = [];
    this.writer.write({ t: 'FLOW', blocked: false });
    for (let i = 0; i < held.length; i++) {
      const { cmd } = held[i]!;
      if (this.mustWait(cmd)) {
        // Full again part way: the rest keeps waiting, in order.
        const rest = held.slice(i);
        this.held = [];
        for (const h of rest) this.hold(s, h.cmd);
        return;
      }
      this.run(cmd);
    }
    this.resumeIfDrained();
  }

  private mustWait(cmd: ClientCommand): boolean {
    return plainSend(cmd) && this.broker.mustHold(cmd.dest, cmd.persistent === true);
  }

  /** Handle a command taken from the held queue; its errors answer it, as if it had just arrived. */
  private run(cmd: ClientCommand): void {
    try {
      this.handle(cmd);
    } catch (err) {
      const e = err instanceof FerryError ? err : new FerryError('FERRY_INTERNAL', String((err as Error)?.message ?? err));
      this.answer((cmd as { rid?: number }).rid, e);
    }
  }

  private sendDone(rid: number | undefined, err: Error | undefined): void {
    this.pendingSends--;
    if (this.paused && this.pendingSends <= MAX_PENDING_SENDS / 4 && this.held.length < MAX_HELD_SENDS) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.state === 'closed') return;
    this.answer(rid, err);
  }

  /** RECEIPT for `rid`, or an ERROR carrying it; an error with no rid still reaches the client. */
  private answer(rid: number | undefined, err: Error | undefined): void {
    if (this.state === 'closed') return;
    if (err) {
      const code = (err as FerryError).code ?? 'FERRY_INTERNAL';
      this.writer.write(rid === undefined ? { t: 'ERROR', code, message: err.message } : { t: 'ERROR', rid, code, message: err.message });
    } else if (rid !== undefined) {
      this.writer.write({ t: 'RECEIPT', rid });
    }
  }

  private onSubscribe(s: Session, cmd: SubscribeCmd): void {
    // Deliveries start inside subscribe(); the receipt is written first so the client knows the sid. Should the
    // subscription be refused, the ERROR with the same rid follows and the client discards the receipt's effect.
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
    s.subscribe(input, () => {
      if (rid !== undefined) this.writer.write({ t: 'RECEIPT', rid });
    });
  }

  private onUnsubscribe(s: Session, cmd: UnsubscribeCmd): void {
    if (cmd.sid !== undefined) {
      s.unsubscribe(cmd.sid);
      return this.receipt(cmd.rid);
    }
    if (s.clientId === null) throw new FerryError('FERRY_INVALID_COMMAND', 'removing a durable subscription needs a clientId on CONNECT');
    const rid = cmd.rid;
    void this.broker.unsubscribeDurable(s.clientId, cmd.durable!).then(
      () => this.receipt(rid),
      (err: Error) => this.answer(rid, err),
    );
  }

  private onAck(s: Session, cmd: AckCmd): void {
    s.ack(cmd.sid, cmd.tag, cmd.upto === true, cmd.tx);
    this.receipt(cmd.rid);
  }

  private onNack(s: Session, cmd: NackCmd): void {
    if (cmd.tx !== undefined) throw new FerryError('FERRY_NOT_SUPPORTED', 'NACK inside a transaction: use ABORT');
    s.nack(cmd.sid, cmd.tag, false);
    this.receipt(cmd.rid);
  }

  private onBrowse(cmd: BrowseCmd): void {
    const d = this.broker.findDestination(cmd.dest);
    if (d === undefined) return this.receipt(cmd.rid, []);
    if (!('browse' in d)) throw new FerryError('FERRY_INVALID_DESTINATION', `BROWSE needs a queue, got ${cmd.dest}`);
    const msgs = d.browse(cmd.max ?? 1000).map(browsedOf);
    this.receipt(cmd.rid, msgs);
  }

  private onPurge(cmd: PurgeCmd): void {
    const d = this.broker.findDestination(cmd.dest);
    if (d === undefined) return this.receipt(cmd.rid, 0);
    if (!('purge' in d)) throw new FerryError('FERRY_INVALID_DESTINATION', `PURGE needs a queue, got ${cmd.dest}`);
    const rid = cmd.rid;
    d.purge().then(
      (n) => this.receipt(rid, n),
      (err: Error) => this.answer(rid, err),
    );
  }

  private receipt(rid: number | undefined, data?: unknown): void {
    if (rid === undefined) return;
    this.writer.write(data === undefined ? { t: 'RECEIPT', rid } : { t: 'RECEIPT', rid, data });
  }

  private cleanup(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.monitor.stop();
    this.stopHeldTimer();
    this.held = [];
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.session?.close();
    this.onClosed(this);
  }
}
