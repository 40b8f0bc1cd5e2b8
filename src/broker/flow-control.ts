import { FerryError } from '../errors.js';
import type { SendInput } from '../model/message.js';
import { now } from './clock.js';

/** Stop reading a session's peer while this many of its operations wait for the store; resume at a quarter. */
export const MAX_PENDING_OPERATIONS = 8192;
/** Operations held by producer flow control before reading is paused as well (native protocol, bridges). */
export const DEFAULT_MAX_HELD = 1000;

/**
 * What a session's user hears from producer flow control. A protocol adapter turns these into its wire: the native
 * protocol sends FLOW blocked/unblocked, STOMP (which has no such frame) only logs; both pause and resume reading
 * their socket. An in-process user (a bridge) may stop producing on `blocked`; it need not, its sends simply wait.
 */
export interface FlowListener {
  /** The broker's (or a destination's) memory is full: this session's sends are held. */
  blocked?(info: { memoryUsage: number; memoryLimit: number }): void;
  /** Memory was freed: the held operations run, in order. */
  unblocked?(): void;
  /** Too much of this session's work is waiting: stop reading from the peer until `resumeReading`. */
  pauseReading?(): void;
  resumeReading?(): void;
}

/** The broker's side of producer flow control, as {@link FlowControl} needs it. */
export interface MemoryGate {
  readonly memoryUsage: number;
  readonly memoryLimit: number;
  readonly sendFailIfNoSpaceAfterTimeoutMs: number;
  /** Must a send to `dest` wait for memory? */
  mustHold(dest: string, persistent: boolean): boolean;
  /** `fn` once memory has been freed somewhere (called once). */
  whenMemoryAvailable(fn: () => void): void;
}

/** One operation waiting behind producer flow control. */
interface Held {
  /** A send outside a transaction: checked for room again before it runs, and fails after the timeout. */
  dest: string | null;
  persistent: boolean;
  at: number;
  /** An ordered operation; null for a held send, which runs through the session's `runSend` (no closure per send). */
  run: (() => void) | null;
  send: SendInput | null;
  /** Answers the operation with an error (a held send's own callback, which also takes its success). */
  fail: ((err?: Error) => void) | null;
}

/** How a held send runs once it may: the session's send, past flow control. */
export type RunSend = (input: SendInput, cb: (err?: Error) => void) => void;

/**
 * Producer flow control for one session (ActiveMQ's ProducerFlowControl with `sendFailIfNoSpaceAfterTimeout`).
 * When memory is full a send is held; every later operation whose order matters (sends, transactions, subscribes,
 * the disconnect barrier) waits behind it, while acks and reads go on, so a session that also consumes can ack its
 * way out. Once memory is freed the held operations run in order; a send that again finds no room stops the run and
 * the rest keeps waiting behind it.
 *
 * It also counts the session's operations still waiting for the store, and asks for reads to pause while too many
 * are held or pending (backpressure on a producer that outruns the disk).
 */
export class FlowControl {
  private held: Held[] = [];
  private blocked = false;
  private waitingForMemory = false;
  private timer: NodeJS.Timeout | null = null;
  private pending = 0;
  private paused = false;
  private closed = false;
  private idle: (() => void)[] = [];
  private readonly releaseFn = (): void => this.release();

  constructor(
    private readonly memory: MemoryGate,
    private readonly listener: FlowListener,
    private readonly maxHeld: number = DEFAULT_MAX_HELD,
    private readonly runSend: RunSend = () => {},
  ) {}

  /** True while something is held: ordered operations must queue behind it. */
  get holding(): boolean {
    return this.held.length > 0;
  }

  /** True while this session's reads are paused (inactivity monitors do not count the peer's silence then). */
  get readingPaused(): boolean {
    return this.paused;
  }

  /** Must a send outside a transaction wait now (something held already, or no room)? */
  mustWait(dest: string, persistent: boolean): boolean {
    return this.held.length > 0 || this.memory.mustHold(dest, persistent);
  }

  /**
   * Hold a send outside a transaction: it runs as `runSend(input, cb)` once there is room; `cb` answers it should it
   * time out or the session close.
   */
  holdSend(input: SendInput, cb: (err?: Error) => void): void {
    this.push({ dest: input.dest, persistent: input.persistent, at: now(), run: null, send: input, fail: cb });
  }

  /** Queue an ordered operation behind what is held (call only while {@link holding}). */
  defer(run: () => void, fail: ((err?: Error) => void) | null = null): void {
    this.push({ dest: null, persistent: false, at: 0, run, send: null, fail });
  }

  /** An operation now waits for the store (a send, a commit). */
  started(): void {
    if (++this.pending >= MAX_PENDING_OPERATIONS && !this.paused) this.updatePause();
  }

  /** ...and is done. */
  finished(): void {
    this.pending--;
    if (this.paused) this.updatePause();
    if (this.pending === 0 && this.idle.length > 0) {
      for (const fn of this.idle.splice(0)) fn();
    }
  }

  /** `fn` once no operation waits for the store (the DISCONNECT barrier). */
  whenIdle(fn: () => void): void {
    if (this.pending === 0) fn();
    else this.idle.push(fn);
  }

  /** The session closed: held operations fail (their adapter, if any, is gone), timers stop. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTimer();
    const held = this.held;
    this.held = [];
    this.idle = [];
    const err = new FerryError('FERRY_CONNECTION_CLOSED', 'session closed while the operation was held by producer flow control');
    for (const h of held) h.fail?.(err);
  }

  private push(h: Held): void {
    this.held.push(h);
    if (this.held.length === 1) this.block();
    else if (this.held.length >= this.maxHeld && !this.paused) this.updatePause();
  }

  private block(): void {
    if (!this.blocked) {
      this.blocked = true;
      this.listener.blocked?.({ memoryUsage: this.memory.memoryUsage, memoryLimit: this.memory.memoryLimit });
    }
    if (!this.waitingForMemory) {
      this.waitingForMemory = true;
      this.memory.whenMemoryAvailable(this.releaseFn);
    }
    const timeout = this.memory.sendFailIfNoSpaceAfterTimeoutMs;
    if (timeout >= 0 && this.timer === null) {
      this.timer = setInterval(() => this.failHeld(timeout), Math.max(10, Math.floor(timeout / 4)));
      this.timer.unref();
    }
    this.updatePause();
  }

  private release(): void {
    this.waitingForMemory = false;
    if (this.closed) return;
    // Memory was freed somewhere; if the send at the head still has no room, keep waiting quietly (no FLOW
    // flapping, and the sendFailIfNoSpaceAfterTimeout deadline keeps running).
    const head = this.held[0];
    if (head !== undefined && this.noRoom(head)) {
      this.waitingForMemory = true;
      this.memory.whenMemoryAvailable(this.releaseFn);
      return;
    }
    this.stopTimer();
    if (this.blocked) {
      this.blocked = false;
      this.listener.unblocked?.();
    }
    this.drain();
  }

  /** Run held operations in order until one is a send that must wait again. */
  private drain(): void {
    const ops = this.held;
    this.held = [];
    for (let i = 0; i < ops.length; i++) {
      if (this.closed) return;
      const op = ops[i]!;
      if (this.noRoom(op)) {
        // Full again part way: the rest keeps waiting, in order, with its deadlines.
        this.held = ops.slice(i);
        this.block();
        return;
      }
      if (op.run !== null) op.run();
      else this.runSend(op.send!, op.fail!);
      if (this.held.length > 0) {
        // The operation held something itself (a frame an adapter queued whole): the rest stays behind it.
        for (let j = i + 1; j < ops.length; j++) this.held.push(ops[j]!);
        this.updatePause();
        return;
      }
    }
    this.updatePause();
  }

  /**
   * sendFailIfNoSpaceAfterTimeout: sends held longer than `timeout` fail with a clear error; operations that were
   * waiting behind them run once they are gone.
   */
  private failHeld(timeout: number): void {
    const now = Date.now();
    let failed = false;
    while (this.held.length > 0 && !this.closed) {
      const h = this.held[0]!;
      if (h.dest === null || now - h.at < timeout) break;
      this.held.shift();
      failed = true;
      h.fail?.(
        new FerryError(
          'FERRY_RESOURCE_EXHAUSTED',
          `send to ${h.dest} failed: broker memory limit (${this.memory.memoryLimit} bytes) reached and still full after sendFailIfNoSpaceAfterTimeout=${timeout} ms`,
        ),
      );
    }
    if (!failed || this.closed) return;
    if (this.held.length === 0) this.stopTimer();
    // What now stands at the head runs (a send only if it has room); the memory wait stays registered, so the
    // session hears "unblocked" once memory is really freed.
    if (this.held.length > 0 && this.held[0]!.dest === null) this.drain();
    else this.updatePause();
  }

  private noRoom(h: Held): boolean {
    return h.dest !== null && this.memory.mustHold(h.dest, h.persistent);
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private updatePause(): void {
    if (this.closed) return;
    const want =
      this.held.length >= this.maxHeld ||
      this.pending >= MAX_PENDING_OPERATIONS ||
      (this.paused && this.pending > MAX_PENDING_OPERATIONS / 4);
    if (want === this.paused) return;
    this.paused = want;
    if (want) this.listener.pauseReading?.();
    else this.listener.resumeReading?.();
  }
}
