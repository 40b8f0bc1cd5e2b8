import { type Command, InvalidArgumentError } from 'commander';
import type { Connection } from '../client/connection.js';
import type { Message } from '../client/message.js';
import type { SubscribeOptions, Subscription } from '../client/subscription.js';
import type { Transaction } from '../client/transaction.js';
import type { AckMode } from '../protocol/commands.js';
import {
  type ClientConnectOptions,
  closeQuietly,
  DEFAULT_DESTINATION,
  DEFAULT_URL,
  isTransactionRolledBack,
  messageKey,
  oneLine,
  parseAckMode,
  parseClientIdOption,
  parseDestinationOption,
  parseDurableOption,
  parseIntOption,
  parseSelectorOption,
  parseUrlOption,
  ratePerSecond,
  connectReporting,
  roundSeconds,
  RUN_HEADER,
  SEQ_HEADER,
  URL_HELP,
} from './util.js';
import { MessageKeySet } from './keys.js';
import { connectSecurity, type SecurityOptions, securityOptions } from './security.js';

export interface ConsumerOptions extends SecurityOptions {
  url: string;
  destination: string;
  count?: number;
  ack: AckMode;
  prefetch: number;
  idleTimeout?: number;
  print?: boolean;
  json?: boolean;
  selector?: string;
  durable?: string;
  clientId?: string;
  transacted?: boolean;
  batch: number;
  nackEvery?: number;
  unsubscribe?: boolean;
}

/** What the consumer will do, once its options have been checked against each other. */
export interface ConsumerPlan {
  /** The subscription's acknowledgement mode (implied by --transacted / --nack-every when --ack is not given). */
  ack: AckMode;
  /** Commit every this many messages; null: not transacted. */
  batch: number | null;
  /** NACK every this many deliveries; null: never. */
  nackEvery: number | null;
  /** Only remove the durable subscription (--unsubscribe). */
  unsubscribeOnly: boolean;
}

/** `--batch` default of a transacted consumer. */
export const DEFAULT_CONSUMER_BATCH = 100;

/**
 * Check the consumer's options against each other (before connecting). `given(flag)` tells whether an option
 * was given on the command line rather than left at its default.
 * @throws InvalidArgumentError naming the flags in conflict
 */
export function consumerPlan(opts: ConsumerOptions, given: (option: 'ack' | 'batch') => boolean): ConsumerPlan {
  const ackGiven = given('ack');
  if (opts.unsubscribe) {
    if (opts.durable === undefined || opts.clientId === undefined) {
      throw new InvalidArgumentError('--unsubscribe needs --durable NAME and --client-id ID (the subscription to remove)');
    }
    return { ack: opts.ack, batch: null, nackEvery: null, unsubscribeOnly: true };
  }
  if (opts.durable !== undefined) {
    if (opts.clientId === undefined) {
      throw new InvalidArgumentError('--durable needs --client-id: a durable subscription is found again by client id and name');
    }
    if (!/^(topic:\/\/|\/topic\/)/.test(opts.destination)) {
      throw new InvalidArgumentError(`--durable needs a topic --destination (topic://NAME), got "${opts.destination}"`);
    }
  }
  let ack = opts.ack;
  if (opts.transacted) {
    if (ackGiven && ack === 'auto') throw new InvalidArgumentError('--transacted cannot be used with --ack auto (messages are acked in the transaction)');
    if (!ackGiven) ack = 'client';
    if (opts.batch > opts.prefetch) {
      throw new InvalidArgumentError(
        `--batch ${opts.batch} exceeds --prefetch ${opts.prefetch}: uncommitted messages hold the prefetch window, ` +
          'so the batch would never fill',
      );
    }
  } else if (given('batch')) {
    throw new InvalidArgumentError('--batch needs --transacted');
  }
  if (opts.nackEvery !== undefined) {
    if (ackGiven && ack === 'auto') {
      throw new InvalidArgumentError('--nack-every needs --ack client or individual (an auto-acknowledged message cannot be nacked)');
    }
    if (!ackGiven && !opts.transacted) ack = 'individual';
  }
  return { ack, batch: opts.transacted ? opts.batch : null, nackEvery: opts.nackEvery ?? null, unsubscribeOnly: false };
}

/** Largest timer delay Node accepts. */
const MAX_TIMER_MS = 2147483647;

/** Why the receive loop ended. */
type StopReason = 'count' | 'idle' | 'signal' | 'failed';

/** `ferrymq consumer`: receive messages, count duplicates and redeliveries, report the rate. */
export function registerConsumer(program: Command): void {
  const cmd = program
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
    .option('--selector <expr>', 'JMS message selector over headers, e.g. "color = \'red\' AND weight > 10"', parseSelectorOption)
    .option('--client-id <id>', 'client id of the connection (durable subscriptions are keyed by it)', parseClientIdOption)
    .option(
      '--durable <name>',
      'durable topic subscription of this name (needs --client-id and a topic://NAME destination): messages wait while ' +
        'the consumer is away',
      parseDurableOption,
    )
    .option('--unsubscribe', 'remove the durable subscription named by --durable and --client-id (and its backlog), then exit')
    .option(
      '--transacted',
      'consume in transactions: ack each message in the transaction and commit every --batch messages and at the end ' +
        '(implies --ack client)',
    )
    .option(
      '--batch <n>',
      'with --transacted: messages per transaction (at most --prefetch)',
      parseIntOption('--batch', 1, 1_000_000),
      DEFAULT_CONSUMER_BATCH,
    )
    .option(
      '--nack-every <k>',
      'NACK every k-th delivery instead of acknowledging it, to exercise redelivery and the dead-letter queue ' +
        '(1: nack all; implies --ack individual; not with --ack auto)',
      parseIntOption('--nack-every', 1, Number.MAX_SAFE_INTEGER),
    )
    .option('--print', 'print each message body (as text) on its own stdout line')
    .option(
      '--json',
      'print the result as JSON on the last stdout line: ' +
        '{"received":N,"unique":U,"duplicates":D,"redelivered":R,"nacked":K,"seconds":S,"rate":X}' +
        ' (with --transacted also "rolledBack", "inDoubt" and "missing")',
    );
  securityOptions(cmd)
    .addHelpText(
      'after',
      '\nreceived counts every delivery; unique the distinct messages; nacked the deliveries given back by\n' +
        '--nack-every; duplicates the deliveries of a message consumed (acknowledged) before; redelivered the\n' +
        'deliveries the broker flagged as redelivered. --count counts consumed deliveries (received - nacked, and\n' +
        'with --transacted less the expected redeliveries of rolled-back transactions).\n' +
        'With --transacted, rolledBack counts the deliveries of transactions that a failover rolled back or left in\n' +
        'doubt (their messages may come again, and are not counted as duplicates then); inDoubt counts the messages\n' +
        'of commits whose answer the failover lost that did not come again (the broker applied the commit after all);\n' +
        'missing those of transactions rolled back for certain that did not come again (never expected: 0).\n' +
        'seconds runs from subscribing to the last message received.\n' +
        'SIGINT (Ctrl-C) stops like --idle-timeout does (a transacted consumer commits what it has). The summary is\n' +
        'printed however the consumer stops.\n' +
        'Status events of the connection (interrupted, reconnecting, resumed, failed) are printed on stderr.\n' +
        'Exit status: 0 when --count messages arrived (or, without --count, on idle timeout or SIGINT); 1 otherwise.',
    )
    .action(async (opts: ConsumerOptions, cmd: Command) => {
      let plan: ConsumerPlan;
      try {
        plan = consumerPlan(opts, (o) => cmd.getOptionValueSource(o) === 'cli');
      } catch (err) {
        // Reported like any other bad option (usage error, exit status 1), before connecting.
        cmd.error(`error: ${(err as Error).message}`, { exitCode: 1, code: 'commander.invalidArgument' });
      }
      if (plan.unsubscribeOnly) await unsubscribeDurable(opts);
      else await consume(opts, plan);
    });
}

/** `--unsubscribe`: remove the durable subscription `--durable` of `--client-id`. */
async function unsubscribeDurable(opts: ConsumerOptions): Promise<void> {
  const name = opts.durable!;
  let conn: Connection | null = null;
  try {
    conn = await connectReporting(opts.url, undefined, { ...connectSecurity(opts), clientId: opts.clientId! });
    await conn.unsubscribe(name);
  } catch (err) {
    throw new Error(`cannot remove durable subscription ${name} of client ${opts.clientId!}: ${oneLine(err)}`);
  } finally {
    await closeQuietly(conn);
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ unsubscribed: name, clientId: opts.clientId })}\n`);
  else process.stdout.write(`removed durable subscription ${name} of client ${opts.clientId!}\n`);
}

/** The open transaction of a transacted consumer and the messages acked in it. */
interface TxWork {
  tx: Transaction | null;
  /** Keys of the deliveries acked in it. */
  keys: string[];
}

async function consume(opts: ConsumerOptions, plan: ConsumerPlan): Promise<void> {
  let conn: Connection | null = null;
  let sub: Subscription | null = null;
  let signalled = false;
  let failure: Error | null = null;
  let wakeOnSignal: (() => void) | null = null;
  const signal = new Promise<null>((resolve) => (wakeOnSignal = () => resolve(null)));
  const onSignal = (): void => {
    if (signalled) process.exit(130); // second Ctrl-C: give up on a clean close
    signalled = true;
    // A transacted consumer commits what it has before closing: only wake the receive loop.
    if (plan.batch !== null) wakeOnSignal?.();
    else void sub?.close().catch(() => {});
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let received = 0;
  let redelivered = 0;
  let nacked = 0;
  let rolledBack = 0;
  const seen = new MessageKeySet();
  const consumed = new MessageKeySet();
  let duplicates = 0;
  let start = 0;
  let last = 0;
  let reason: StopReason;
  /** Messages of rolled-back transactions not delivered again yet: their next delivery is no duplicate. */
  const expectAgain = new Set<string>();
  /**
   * Messages of transactions whose COMMIT was in flight when the connection failed: they come again only if the
   * broker had not applied it (a next delivery is no duplicate either way).
   */
  const maybeAgain = new Set<string>();
  const work: TxWork = { tx: null, keys: [] };
  /**
   * Commit the open transaction. When a failover rolled it back, its messages come again: their next delivery
   * is expected, not a duplicate. (Its deliveries stay counted; a message that never comes again is in doubt.)
   */
  const commit = async (): Promise<void> => {
    const tx = work.tx;
    if (tx === null) return;
    try {
      await tx.commit();
    } catch (err) {
      if (!isTransactionRolledBack(err)) throw err;
      rolledBack += work.keys.length;
      const doubt = (err as { code?: string }).code === 'FERRY_TRANSACTION_IN_DOUBT';
      for (const k of work.keys) (doubt ? maybeAgain : expectAgain).add(k);
      if (work.keys.length > 0) {
        process.stderr.write(
          doubt
            ? `ferrymq: transaction in doubt: the failover lost the answer to its COMMIT; its ${work.keys.length} messages come again only if it was not applied\n`
            : `ferrymq: transaction rolled back by a failover: its ${work.keys.length} messages should be delivered again\n`,
        );
      }
    } finally {
      work.tx = null;
      work.keys = [];
    }
  };

  try {
    const connectOptions: ClientConnectOptions = connectSecurity(opts);
    if (opts.clientId !== undefined) connectOptions.clientId = opts.clientId;
    try {
      conn = await connectReporting(opts.url, undefined, connectOptions);
    } catch (err) {
      throw new Error(oneLine(err));
    }
    conn.on('failed', (s: { error: Error }) => {
      failure = s.error;
    });
    const subOptions: SubscribeOptions = { ack: plan.ack, prefetch: opts.prefetch };
    if (opts.selector !== undefined) subOptions.selector = opts.selector;
    if (opts.durable !== undefined) subOptions.durable = opts.durable;
    try {
      sub = await conn.subscribe(opts.destination, subOptions);
    } catch (err) {
      const what = opts.durable !== undefined ? `durable subscription ${opts.durable} to ${opts.destination}` : opts.destination;
      throw new Error(`cannot subscribe to ${what}: ${oneLine(err)}`);
    }
    start = performance.now();
    last = start;
    const manualAck = plan.ack !== 'auto';
    try {
      for (;;) {
        if (opts.count !== undefined && consumed.size + duplicates >= opts.count) {
          reason = 'count';
          break;
        }
        if (signalled) {
          reason = 'signal';
          break;
        }
        // Begun before receiving: a failover between this BEGIN and the COMMIT always fails the commit, so a
        // delivery can never be counted as consumed while its ack was dropped with an older connection.
        if (plan.batch !== null && work.tx === null) work.tx = await conn.begin();
        // (A transacted consumer's receive left waiting by a signal gets at most one message, never acked: the
        // broker delivers it again once the subscription closes.)
        const m: Message | null = await (plan.batch !== null ? Promise.race([sub.receive(opts.idleTimeout), signal]) : sub.receive(opts.idleTimeout));
        if (m === null) {
          reason = failure !== null ? 'failed' : signalled ? 'signal' : 'idle';
          break;
        }
        received++;
        last = performance.now();
        seen.add(m.headers, m.id);
        // The string key only where a transaction needs it: building one per message cost more than the rest.
        const key = plan.batch !== null || expectAgain.size > 0 || maybeAgain.size > 0 ? messageKey(m.headers, m.id) : '';
        if (m.redelivered) redelivered++;
        if (opts.print) process.stdout.write(`${m.text}\n`);
        if (plan.nackEvery !== null && received % plan.nackEvery === 0) {
          // Given back at once (not part of a transaction): the broker redelivers it, or dead-letters it.
          m.nack();
          nacked++;
          continue;
        }
        if ((expectAgain.size > 0 && expectAgain.delete(key)) || (maybeAgain.size > 0 && maybeAgain.delete(key))) {
          // The redelivery of a rolled-back transaction's message: consumed now (again), not a duplicate.
        } else if (!consumed.add(m.headers, m.id)) duplicates++;
        if (plan.batch !== null) {
          work.tx!.ack(m);
          work.keys.push(key);
          if (work.keys.length >= plan.batch) await commit();
        } else if (manualAck) m.ack();
      }
      // Whatever stopped the loop (but a dead connection), what has been consumed so far is committed.
      if (reason !== 'failed') await commit();
    } catch (err) {
      if (conn.isClosed && failure !== null) reason = 'failed';
      else throw new Error(`after ${received} messages: ${oneLine(err)}`);
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
  const summary: Record<string, number> = {
    received,
    unique,
    duplicates,
    redelivered,
    nacked,
  };
  if (plan.batch !== null) {
    summary['rolledBack'] = rolledBack;
    summary['inDoubt'] = maybeAgain.size;
    summary['missing'] = expectAgain.size;
  }
  summary['seconds'] = roundSeconds(ms);
  summary['rate'] = ratePerSecond(received, ms / 1000);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    const extra = (plan.nackEvery !== null ? `, ${nacked} nacked` : '') + (plan.batch !== null ? `, ${rolledBack} rolled back (${maybeAgain.size} of them in doubt, ${expectAgain.size} missing)` : '');
    process.stdout.write(
      `received ${received} messages from ${opts.destination} in ${summary['seconds']!.toFixed(3)} s (${summary['rate']} msg/s): ` +
        `${unique} unique, ${duplicates} duplicates, ${redelivered} redelivered${extra}\n`,
    );
  }
  const got = consumed.size + duplicates;
  const wanted = opts.count !== undefined ? ` of ${opts.count}` : '';
  switch (reason) {
    case 'count':
      return;
    case 'failed':
      throw new Error(`received ${got}${wanted} messages, then: ${oneLine(failure)}`);
    case 'idle':
      if (opts.count === undefined) return;
      throw new Error(`no message for ${opts.idleTimeout} ms: received ${got}${wanted} messages`);
    case 'signal':
      if (opts.count === undefined) return;
      throw new Error(`interrupted: received ${got}${wanted} messages`);
  }
}
