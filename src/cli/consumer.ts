import type { Command } from 'commander';
import type { Connection } from '../client/connection.js';
import type { Subscription } from '../client/subscription.js';
import type { AckMode } from '../protocol/commands.js';
import {
  closeQuietly,
  DEFAULT_DESTINATION,
  DEFAULT_URL,
  messageKey,
  oneLine,
  parseAckMode,
  parseDestinationOption,
  parseIntOption,
  parseUrlOption,
  ratePerSecond,
  connectReporting,
  roundSeconds,
  RUN_HEADER,
  SEQ_HEADER,
  URL_HELP,
} from './util.js';

interface ConsumerOptions {
  url: string;
  destination: string;
  count?: number;
  ack: AckMode;
  prefetch: number;
  idleTimeout?: number;
  print?: boolean;
  json?: boolean;
}

/** Largest timer delay Node accepts. */
const MAX_TIMER_MS = 2147483647;

/** Why the receive loop ended. */
type StopReason = 'count' | 'idle' | 'signal' | 'failed';

/** `ferrymq consumer`: receive messages, count duplicates and redeliveries, report the rate. */
export function registerConsumer(program: Command): void {
  program
    .command('consumer')
    .summary('receive messages, count duplicates and report the rate')
    .description(
      'receive messages from a destination and report counts and the rate; messages are told apart by the ' +
        `${RUN_HEADER} and ${SEQ_HEADER} headers of "ferrymq producer" (else by message id) to count duplicates`,
    )
    .option('--url <url>', URL_HELP, parseUrlOption, DEFAULT_URL)
    .option('--destination <dest>', 'queue://NAME, topic://NAME, or NAME (a queue)', parseDestinationOption, DEFAULT_DESTINATION)
    .option('--count <n>', 'stop (exit 0) after this many messages (default: no limit)', parseIntOption('--count', 1, Number.MAX_SAFE_INTEGER))
    .option(
      '--ack <mode>',
      'acknowledgement mode: auto, client (ack each message, acking all before it) or individual (ack each message)',
      parseAckMode,
      'auto' as AckMode,
    )
    .option('--prefetch <n>', 'messages the broker may have in flight to this consumer', parseIntOption('--prefetch', 1, 1_000_000), 1000)
    .option(
      '--idle-timeout <ms>',
      'stop when no message arrives for this long: exit 0 without --count, 1 when --count was not reached ' +
        '(default: wait forever)',
      parseIntOption('--idle-timeout', 1, MAX_TIMER_MS),
    )
    .option('--print', 'print each message body (as text) on its own stdout line')
    .option(
      '--json',
      'print the result as JSON on the last stdout line: ' +
        '{"received":N,"unique":U,"duplicates":D,"redelivered":R,"seconds":S,"rate":X}',
    )
    .addHelpText(
      'after',
      '\nreceived counts every delivery; unique the distinct messages; duplicates = received - unique; redelivered\n' +
        'the deliveries the broker flagged as redelivered. seconds runs from subscribing to the last message received.\n' +
        'SIGINT (Ctrl-C) stops like --idle-timeout does. The summary is printed however the consumer stops.\n' +
        'Status events of the connection (interrupted, reconnecting, resumed, failed) are printed on stderr.\n' +
        'Exit status: 0 when --count messages arrived (or, without --count, on idle timeout or SIGINT); 1 otherwise.',
    )
    .action(async (opts: ConsumerOptions) => {
      await consume(opts);
    });
}

async function consume(opts: ConsumerOptions): Promise<void> {
  let conn: Connection | null = null;
  let sub: Subscription | null = null;
  let signalled = false;
  let failure: Error | null = null;
  const onSignal = (): void => {
    if (signalled) process.exit(130); // second Ctrl-C: give up on a clean close
    signalled = true;
    void sub?.close().catch(() => {});
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let received = 0;
  let redelivered = 0;
  const seen = new Set<string>();
  let start = 0;
  let last = 0;
  let reason: StopReason;
  try {
    try {
      conn = await connectReporting(opts.url);
    } catch (err) {
      throw new Error(oneLine(err));
    }
    conn.on('failed', (s: { error: Error }) => {
      failure = s.error;
    });
    try {
      sub = await conn.subscribe(opts.destination, { ack: opts.ack, prefetch: opts.prefetch });
    } catch (err) {
      throw new Error(`cannot subscribe to ${opts.destination}: ${oneLine(err)}`);
    }
    start = performance.now();
    last = start;
    const manualAck = opts.ack !== 'auto';
    for (;;) {
      if (opts.count !== undefined && received >= opts.count) {
        reason = 'count';
        break;
      }
      if (signalled) {
        reason = 'signal';
        break;
      }
      const m = await sub.receive(opts.idleTimeout);
      if (m === null) {
        reason = failure !== null ? 'failed' : signalled ? 'signal' : 'idle';
        break;
      }
      received++;
      last = performance.now();
      const key = messageKey(m.headers, m.id);
      if (!seen.has(key)) seen.add(key);
      if (m.redelivered) redelivered++;
      if (opts.print) process.stdout.write(`${m.text}\n`);
      if (manualAck) m.ack();
    }
    // Closing the subscription sends the pending auto ack of the last message before unsubscribing.
    await sub.close().catch(() => {});
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await closeQuietly(conn);
  }

  const ms = received > 0 ? last - start : start > 0 ? performance.now() - start : 0;
  const unique = seen.size;
  const summary = {
    received,
    unique,
    duplicates: received - unique,
    redelivered,
    seconds: roundSeconds(ms),
    rate: ratePerSecond(received, ms / 1000),
  };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    process.stdout.write(
      `received ${received} messages from ${opts.destination} in ${summary.seconds.toFixed(3)} s (${summary.rate} msg/s): ` +
        `${unique} unique, ${summary.duplicates} duplicates, ${redelivered} redelivered\n`,
    );
  }
  const wanted = opts.count !== undefined ? ` of ${opts.count}` : '';
  switch (reason) {
    case 'count':
      return;
    case 'failed':
      throw new Error(`received ${received}${wanted} messages, then: ${oneLine(failure)}`);
    case 'idle':
      if (opts.count === undefined) return;
      throw new Error(`no message for ${opts.idleTimeout} ms: received ${received}${wanted} messages`);
    case 'signal':
      if (opts.count === undefined) return;
      throw new Error(`interrupted: received ${received}${wanted} messages`);
  }
}
