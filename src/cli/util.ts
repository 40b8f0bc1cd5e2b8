import { InvalidArgumentError } from 'commander';
import { type ConnectOptions, type Connection, type ConnectionStatus, connect } from '../client/connection.js';
import { FerryError } from '../errors.js';
import { ACK_MODES, type AckMode, type HeaderValue, type Headers } from '../protocol/commands.js';
import { parseClientUri, uriErrorReason } from '../transport/uri.js';

/** Repeatable option: `--header a=1 --header b=2`. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** An integer option within [min, max], with an error naming the flag. */
export function parseIntOption(flag: string, min: number, max: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}, got "${v}"`);
    }
    return n;
  };
}

// ---- shared by the client subcommands (producer, consumer, dstat, browse, purge) ---------------------------------

/** `--url` default: the OpenWire port of ActiveMQ on this host. */
export const DEFAULT_URL = 'tcp://127.0.0.1:61616';
/** `--destination` default, as in ActiveMQ's producer/consumer tools. */
export const DEFAULT_DESTINATION = 'queue://TEST';
/** Headers every producer message carries: the producer run and the 1-based sequence number within it. */
export const RUN_HEADER = 'ferry.run';
export const SEQ_HEADER = 'ferry.seq';

/** Option description of `--url`, shared so every subcommand says the same. */
export const URL_HELP = 'broker URL: tcp://host:port, or failover:(tcp://a:61616,tcp://b:61617)?options';

/** `--url`: checked up front so a typo fails before anything is sent. */
export function parseUrlOption(v: string): string {
  try {
    parseClientUri(v);
  } catch (err) {
    throw new InvalidArgumentError(`--url: ${uriErrorReason(err)} (got "${v}")`);
  }
  return v;
}

/** `--destination`: queue://NAME, topic://NAME or a bare NAME (a queue); 1–1024 characters, no control characters. */
export function parseDestinationOption(v: string): string {
  const name = v.replace(/^(queue:\/\/|topic:\/\/|\/queue\/|\/topic\/)/, '');
  if (name.length === 0 || name.length > 1024) {
    throw new InvalidArgumentError(`--destination needs a name of 1 to 1024 characters, got "${v}"`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) throw new InvalidArgumentError(`--destination contains a control character`);
  return v;
}

/** `--destination` of browse and purge: a queue; a topic keeps no waiting messages, so naming one is an error. */
export function parseQueueOption(v: string): string {
  const d = parseDestinationOption(v);
  if (/^(topic:\/\/|\/topic\/)/.test(d)) throw new InvalidArgumentError(`--destination must be a queue (topics keep no waiting messages), got "${v}"`);
  return d;
}

/** `--ack`: one of the subscription acknowledgement modes. */
export function parseAckMode(v: string): AckMode {
  if (!(ACK_MODES as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(`--ack must be one of ${ACK_MODES.join(', ')}, got "${v}"`);
  }
  return v as AckMode;
}

/** A decimal number (integer, fraction, exponent) as a header value is sent as a number; anything else is text. */
const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** The value of `--header k=v`: a number when numeric, true/false as a boolean, otherwise the string as given. */
export function parseHeaderValue(v: string): HeaderValue {
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (NUMERIC.test(v)) {
    const n = Number(v);
    if (Number.isFinite(n)) return n;
  }
  return v;
}

/** One `--header k=v` (split at the first '='; the value may be empty or contain '='). */
export function parseHeader(spec: string): [string, HeaderValue] {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new InvalidArgumentError(`--header must be name=value, got "${spec}"`);
  const key = spec.slice(0, eq);
  if (key.trim() === '') throw new InvalidArgumentError(`--header needs a name before '=', got "${spec}"`);
  if (key.length > 1024) throw new InvalidArgumentError(`--header name is longer than 1024 characters`);
  return [key, parseHeaderValue(spec.slice(eq + 1))];
}

/**
 * Every `--header` given, as a header map. A name given twice, or one of `reserved` (headers the command sets
 * itself), is an error rather than a silent override.
 */
export function parseHeaders(specs: readonly string[], reserved: readonly string[] = []): Headers {
  const out: Headers = {};
  for (const spec of specs) {
    const [k, v] = parseHeader(spec);
    if (reserved.includes(k)) throw new InvalidArgumentError(`--header ${k} is set by ferrymq itself and cannot be given`);
    if (Object.hasOwn(out, k)) throw new InvalidArgumentError(`--header ${k} is given twice`);
    out[k] = v;
  }
  if (Object.keys(out).length + reserved.length > 1024) throw new InvalidArgumentError('at most 1024 headers per message');
  return out;
}

/**
 * Repeatable `--header` as a commander argument parser: checks each occurrence as it is given (including names
 * given twice and `reserved` names), so a bad header is reported as a bad option value.
 */
export function collectHeader(reserved: readonly string[] = []): (v: string, previous: string[]) => string[] {
  return (v: string, previous: string[]) => {
    const all = [...previous, v];
    parseHeaders(all, reserved);
    return all;
  };
}

/**
 * A text body of exactly `size` bytes for message `seq`: `<seq>:` followed by 'x' padding (cut to `size` when
 * the prefix alone is longer). `filler` is an optional pre-built run of at least `size` 'x' characters.
 */
export function sizedBody(seq: number, size: number, filler?: string): string {
  const prefix = `${seq}:`;
  if (prefix.length >= size) return prefix.slice(0, size);
  const pad = filler !== undefined && filler.length >= size ? filler : 'x'.repeat(size);
  return prefix + pad.slice(0, size - prefix.length);
}

/** The key that identifies a message for duplicate counting: producer run + sequence when present, else its id. */
export function messageKey(headers: Headers, id: string): string {
  const run = headers[RUN_HEADER];
  const seq = headers[SEQ_HEADER];
  if (run !== undefined && run !== null && seq !== undefined && seq !== null) return `${String(run)}#${String(seq)}`;
  return `id:${id}`;
}

/** `count / seconds` rounded to a whole number per second; 0 when no time has passed. */
export function ratePerSecond(count: number, seconds: number): number {
  return seconds > 0 ? Math.round(count / seconds) : 0;
}

/** Milliseconds as seconds, rounded to microseconds. */
export function roundSeconds(ms: number): number {
  return Math.round(ms * 1000) / 1e6;
}

/** An error as a single line (for stderr). */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

/** One stderr line for a connection status event. */
export function formatStatus(s: ConnectionStatus): string {
  switch (s.type) {
    case 'interrupted':
      return `ferrymq: connection interrupted (${s.url}): ${oneLine(s.error)}`;
    case 'reconnecting':
      return `ferrymq: reconnecting attempt ${s.attempt} in ${s.delayMs} ms to ${s.url}`;
    case 'resumed':
      return `ferrymq: connection resumed on ${s.url}`;
    case 'failed':
      return `ferrymq: connection failed: ${oneLine(s.error)}`;
    case 'blocked':
      return `ferrymq: producer blocked by the broker on ${s.url} (memory limit reached; waiting)`;
    case 'unblocked':
      return `ferrymq: producer unblocked on ${s.url}`;
  }
}

const stderrLine = (l: string): void => void process.stderr.write(`${l}\n`);

/** A producer that producer flow control blocks over and over is reported at most once per this long. */
export const FLOW_REPORT_MS = 10_000;

/**
 * Status events as lines for `write`. Producer flow control flaps against a slower consumer (blocked, unblocked,
 * hundreds of times a second, each a line of stderr): a block is printed at most once per FLOW_REPORT_MS, saying
 * how many went unprinted since, and an unblock only after a block that was printed. Other events: every one.
 */
export function statusReporter(write: (line: string) => void, now: () => number = Date.now): (s: ConnectionStatus) => void {
  let printedAt = Number.NEGATIVE_INFINITY;
  let unprinted = 0;
  let blockPrinted = false;
  return (s) => {
    if (s.type === 'blocked') {
      const t = now();
      if (t - printedAt < FLOW_REPORT_MS) {
        unprinted++;
        return;
      }
      const line = formatStatus(s);
      write(unprinted === 0 ? line : `${line}; blocked ${unprinted} more times in the last ${Math.round((t - printedAt) / 1000)} s`);
      printedAt = t;
      unprinted = 0;
      blockPrinted = true;
    } else if (s.type === 'unblocked') {
      if (!blockPrinted) return;
      blockPrinted = false;
      write(formatStatus(s));
    } else write(formatStatus(s));
  };
}

/**
 * Connect, printing status events as lines via `write` (default: stderr; see {@link statusReporter}) from the first
 * dial on, so a failover URL whose brokers are all down says so instead of waiting silently.
 */
export function connectReporting(
  url: string,
  write: (line: string) => void = stderrLine,
  options: ClientConnectOptions = {},
): Promise<Connection> {
  return connect(url, { ...options, onStatus: statusReporter(write) });
}

/** Connect options a client subcommand may set (status events are always reported by {@link connectReporting}). */
export type ClientConnectOptions = Omit<ConnectOptions, 'onStatus'>;

/** `--client-id`: 1–256 characters, no control characters (durable subscriptions are keyed by it). */
export function parseClientIdOption(v: string): string {
  if (v.length === 0 || v.length > 256) throw new InvalidArgumentError(`--client-id must be 1 to 256 characters, got "${v}"`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(v)) throw new InvalidArgumentError('--client-id contains a control character');
  return v;
}

/** `--durable`: a durable subscription name, 1–256 characters, no control characters. */
export function parseDurableOption(v: string): string {
  if (v.length === 0 || v.length > 256) throw new InvalidArgumentError(`--durable must be 1 to 256 characters, got "${v}"`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(v)) throw new InvalidArgumentError('--durable contains a control character');
  return v;
}

/** `--selector`: a non-empty JMS selector (the broker checks the syntax when subscribing). */
export function parseSelectorOption(v: string): string {
  if (v.trim() === '') throw new InvalidArgumentError('--selector must not be empty');
  return v;
}

/**
 * True when a transaction failed because a failover rolled it back (the broker the transaction began on is
 * gone): its sends were dropped and its acks undone, so the work can be done again in a new transaction.
 */
export function isTransactionRolledBack(err: unknown): boolean {
  return (
    err instanceof FerryError &&
    (err.code === 'FERRY_UNKNOWN_TRANSACTION' || err.code === 'FERRY_TRANSACTION_ROLLED_BACK' || err.code === 'FERRY_TRANSACTION_IN_DOUBT')
  );
}

/** Close without throwing (the connection may already have failed). */
export async function closeQuietly(conn: Connection | null | undefined): Promise<void> {
  if (!conn) return;
  try {
    await conn.close();
  } catch {
    // closing anyway
  }
}

/**
 * Connect, print status events on stderr, run `fn`, and close the connection whatever happens. The error of a
 * failed `fn` (or connect) propagates, for main.ts to print as one line with exit code 1.
 */
export async function withConnection<T>(
  url: string,
  fn: (conn: Connection) => Promise<T>,
  write?: (line: string) => void,
  options?: ClientConnectOptions,
): Promise<T> {
  const conn = await connectReporting(url, write, options);
  try {
    return await fn(conn);
  } finally {
    await closeQuietly(conn);
  }
}

/**
 * At most `size` promises in flight: `add` waits while the window is full and rethrows the first failure;
 * `drain` waits for everything outstanding.
 */
export class Window {
  private inFlight = 0;
  private failure: { err: unknown } | null = null;
  private wake: (() => void) | null = null;
  private idle: (() => void) | null = null;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`window size must be a positive integer, got ${size}`);
  }

  get pending(): number {
    return this.inFlight;
  }

  /** Start tracking `p`; resolves once there is room for another. */
  async add(p: Promise<unknown>): Promise<void> {
    // Track `p` before anything can throw, so its rejection is never left unhandled.
    this.inFlight++;
    p.then(
      () => this.settle(),
      (err: unknown) => {
        if (this.failure === null) this.failure = { err };
        this.settle();
      },
    );
    this.check();
    while (this.inFlight >= this.size && this.failure === null) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    this.check();
  }

  /** Wait for every tracked promise; rethrows the first failure. */
  async drain(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    this.check();
  }

  private settle(): void {
    this.inFlight--;
    const w = this.wake;
    this.wake = null;
    w?.();
    if (this.inFlight === 0) {
      const i = this.idle;
      this.idle = null;
      i?.();
    }
  }

  private check(): void {
    if (this.failure !== null) throw this.failure.err;
  }
}

/** Render rows as a left/right aligned text table (`right[i]`: column i is numeric). */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `s` cut to `max` characters, with '…' marking the cut. */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}
