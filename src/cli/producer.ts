import { randomBytes } from 'node:crypto';
import cliProgress from 'cli-progress';
import { type Command, Option } from 'commander';
import type { Connection, SendOptions } from '../client/connection.js';
import { Utf8Text } from '../client/send.js';
import type { Headers } from '../protocol/commands.js';
import {
  type ClientConnectOptions,
  collectHeader,
  isTransactionRolledBack,
  parseClientIdOption,
  DEFAULT_DESTINATION,
  DEFAULT_URL,
  parseDestinationOption,
  parseHeaders,
  parseIntOption,
  oneLine,
  parseUrlOption,
  ratePerSecond,
  roundSeconds,
  RUN_HEADER,
  SEQ_HEADER,
  URL_HELP,
  Window,
  withConnection,
} from './util.js';
import { connectSecurity, type SecurityOptions, securityOptions } from './security.js';

interface ProducerOptions extends SecurityOptions {
  url: string;
  destination: string;
  count: number;
  size?: number;
  message?: string;
  persistent?: boolean;
  priority?: number;
  ttl?: number;
  header: string[];
  window: number;
  rate?: number;
  clientId?: string;
  transacted?: boolean;
  batch: number;
  json?: boolean;
}

/** `--batch` default of a transacted producer. */
export const DEFAULT_PRODUCER_BATCH = 100;
/** A batch rolled back by this many failovers in a row fails the run. */
const MAX_BATCH_ATTEMPTS = 10;

/** Body size when neither --size nor --message is given. */
const DEFAULT_SIZE = 1024;
/** A progress bar only for runs longer than this. */
const PROGRESS_MIN_COUNT = 1000;

/** `ferrymq producer`: send --count messages and report the rate. */
export function registerProducer(program: Command): void {
  const cmd = program
    .command('producer')
    .summary('send messages and report the rate')
    .description(
      'send messages to a destination and report the rate; every message carries the headers ' +
        `${RUN_HEADER} (an id of this run) and ${SEQ_HEADER} (1..count)`,
    )
    .option('--url <url>', URL_HELP, parseUrlOption, DEFAULT_URL)
    .option('--destination <dest>', 'queue://NAME, topic://NAME, or NAME (a queue)', parseDestinationOption, DEFAULT_DESTINATION)
    .option('--count <n>', 'number of messages to send', parseIntOption('--count', 1, Number.MAX_SAFE_INTEGER), 1000)
    .addOption(
      new Option('--size <bytes>', `text body of exactly this many bytes: "<seq>:xxxx…" (default: ${DEFAULT_SIZE})`)
        .argParser(parseIntOption('--size', 0, 1 << 30))
        .conflicts('message'),
    )
    .addOption(new Option('--message <text>', 'send this text as the body of every message').conflicts('size'))
    .option('--persistent', 'persistent messages: each send completes once the broker has it on disk (default)')
    .option('--no-persistent', 'non-persistent messages: kept in broker memory only')
    .option('--priority <p>', 'message priority 0-9 (default: 4)', parseIntOption('--priority', 0, 9))
    .option('--ttl <ms>', 'time to live in ms; 0: never expires (default: 0)', parseIntOption('--ttl', 0, Number.MAX_SAFE_INTEGER))
    .addOption(
      new Option(
        '--header <name=value>',
        'extra message header, repeatable; numeric values are sent as numbers, true/false as booleans, others as text',
      )
        .argParser(collectHeader([RUN_HEADER, SEQ_HEADER]))
        .default([], 'none'),
    )
    .option(
      '--window <n>',
      'sends in flight at once (persistent sends waiting for the broker\'s receipt)',
      parseIntOption('--window', 1, 1_000_000),
      1000,
    )
    .option(
      '--rate <n>',
      'send at most this many messages per second (default: as fast as the broker takes them)',
      parseIntOption('--rate', 1, 100_000_000),
    )
    .option('--client-id <id>', 'client id of the connection (default: a generated one)', parseClientIdOption)
    .option(
      '--transacted',
      'send in transactions of --batch messages: each batch becomes visible at its commit; a batch that a failover ' +
        'rolls back is sent again',
    )
    .option(
      '--batch <n>',
      'with --transacted: messages per transaction',
      parseIntOption('--batch', 1, 100_000),
      DEFAULT_PRODUCER_BATCH,
    )
    .option('--json', 'print the result as JSON on the last stdout line: {"sent":N,"seconds":S,"rate":R}');
  securityOptions(cmd)
    .addHelpText(
      'after',
      '\nStatus events of the connection (interrupted, reconnecting, resumed, failed) are printed on stderr.\n' +
        'With --transacted, sent counts committed messages; a batch rolled back by a failover is sent again (with\n' +
        'the same ferry.seq headers, so a consumer counts a commit whose outcome the failover hid as duplicates).\n' +
        'Exit status: 0 when every message was sent; 1 on any failure (the summary, with the messages confirmed\n' +
        'sent so far, is still printed once connected).',
    )
    .action(async (opts: ProducerOptions, cmd: Command) => {
      if (!opts.transacted && cmd.getOptionValueSource('batch') === 'cli') {
        cmd.error('error: --batch needs --transacted', { exitCode: 1, code: 'commander.invalidArgument' });
      }
      // Already checked by the option parser; validated before connecting, so a bad header never half-sends a run.
      const userHeaders = parseHeaders(opts.header, [RUN_HEADER, SEQ_HEADER]);
      await produce(opts, userHeaders);
    });
}

async function produce(opts: ProducerOptions, userHeaders: Headers): Promise<void> {
  const persistent = opts.persistent !== false;
  const run = randomBytes(8).toString('hex');
  const size = opts.size ?? DEFAULT_SIZE;
  // Bodies as bytes, sent as text: --message encoded once; otherwise "<seq>:" written over a copy of the filler.
  const fixed = opts.message === undefined ? null : new Utf8Text(Buffer.from(opts.message, 'utf8'));
  const filler = Buffer.alloc(size, 'x');
  const body = (seq: number): Utf8Text => {
    if (fixed !== null) return fixed;
    const b = Buffer.allocUnsafe(size);
    const n = b.write(`${seq}:`, 0, 'latin1');
    filler.copy(b, n, 0, size - n);
    return new Utf8Text(b);
  };
  const bar =
    !opts.json && process.stderr.isTTY && opts.count > PROGRESS_MIN_COUNT
      ? new cliProgress.SingleBar(
          {
            format: 'sending [{bar}] {percentage}% | {value}/{total} | {rate} msg/s | ETA {eta_formatted}',
            stream: process.stderr,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  // A status line must not land in the middle of the bar: clear the bar's line first; it redraws below.
  const statusLine = (line: string): void => {
    process.stderr.write(bar !== null ? `\r\x1b[2K${line}\n` : `${line}\n`);
  };

  const connectOptions: ClientConnectOptions = connectSecurity(opts);
  if (opts.clientId !== undefined) connectOptions.clientId = opts.clientId;
  let sent = 0;
  let ms = 0;
  let connected = false;
  let failure: unknown = null;
  let start = 0;
  try {
    await withConnection(
      opts.url,
      async (conn) => {
        connected = true;
        const window = new Window(opts.window);
        const base: SendOptions = { persistent };
        if (opts.priority !== undefined) base.priority = opts.priority;
        if (opts.ttl !== undefined && opts.ttl > 0) base.ttl = opts.ttl;
        bar?.start(opts.count, 0, { rate: 0 });
        start = performance.now();
        let lastBar = start;
        const progress = (): void => {
          if (bar === null) return;
          const now = performance.now();
          if (now - lastBar >= 100) {
            lastBar = now;
            bar.update(sent, { rate: ratePerSecond(sent, (now - start) / 1000) });
          }
        };
        // --rate: message seq goes out no earlier than (seq - 1) / rate seconds after the start.
        const pace = async (seq: number): Promise<void> => {
          if (opts.rate === undefined) return;
          const wait = start + ((seq - 1) * 1000) / opts.rate - performance.now();
          if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        };
        const message = (seq: number): [Utf8Text, SendOptions] => {
          const headers: Headers = Object.assign({}, userHeaders);
          headers[RUN_HEADER] = run;
          headers[SEQ_HEADER] = seq;
          const options = Object.assign({}, base);
          options.headers = headers;
          return [body(seq), options];
        };
        if (opts.transacted) {
          for (let first = 1; first <= opts.count; first += opts.batch) {
            const n = await sendBatch(conn, opts, first, Math.min(first + opts.batch - 1, opts.count), message, pace, statusLine);
            sent += n;
            progress();
          }
        } else if (!persistent) {
          // A non-persistent send resolves once written (or once a congested socket drains): awaited one by one,
          // as the bench's producer does; a window of them only added a promise and a callback per message.
          for (let seq = 1; seq <= opts.count; seq++) {
            await pace(seq);
            const [b, options] = message(seq);
            await conn.send(opts.destination, b, options);
            sent++;
            progress();
          }
        } else {
          for (let seq = 1; seq <= opts.count; seq++) {
            await pace(seq);
            const [body, options] = message(seq);
            await window.add(conn.send(opts.destination, body, options).then(() => void sent++));
            progress();
          }
        }
        await window.drain();
        // A non-persistent send completes once written; one round trip after the last makes sure the broker has
        // them all (it handles a connection's frames in order) before the clock stops.
        if (!persistent) await conn.stats();
        ms = performance.now() - start;
        bar?.update(sent, { rate: ratePerSecond(sent, ms / 1000) });
      },
      statusLine,
      connectOptions,
    );
  } catch (err) {
    if (!connected) throw new Error(oneLine(err));
    failure = err;
    ms = start > 0 ? performance.now() - start : 0;
  } finally {
    bar?.stop();
  }
  // The summary also after a failure (with what was confirmed sent), so scripts can read how far it got.
  const seconds = roundSeconds(ms);
  const rate = ratePerSecond(sent, ms / 1000);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ sent, seconds, rate })}\n`);
  } else {
    const kind = persistent ? 'persistent' : 'non-persistent';
    process.stdout.write(`sent ${sent} ${kind} messages to ${opts.destination} in ${seconds.toFixed(3)} s (${rate} msg/s)\n`);
  }
  if (failure !== null) throw new Error(`failed after ${sent} of ${opts.count} messages sent: ${oneLine(failure)}`);
}

/**
 * Send messages `first..last` in one transaction (up to --window sends in flight) and commit; when a failover
 * rolls the transaction back, send the batch again in a new one. @returns messages committed
 */
async function sendBatch(
  conn: Connection,
  opts: ProducerOptions,
  first: number,
  last: number,
  message: (seq: number) => [Utf8Text, SendOptions],
  pace: (seq: number) => Promise<void>,
  statusLine: (line: string) => void,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      const tx = await conn.begin();
      // A fresh window per attempt: sends of a rolled-back attempt may still fail late, into the old one.
      const window = new Window(opts.window);
      for (let seq = first; seq <= last; seq++) {
        await pace(seq);
        const [body, options] = message(seq);
        await window.add(tx.send(opts.destination, body, options));
      }
      await window.drain();
      await tx.commit();
      return last - first + 1;
    } catch (err) {
      if (!isTransactionRolledBack(err) || conn.isClosed || attempt >= MAX_BATCH_ATTEMPTS) throw err;
      statusLine(`ferrymq: transaction rolled back by a failover: sending messages ${first}-${last} again`);
    }
  }
}
