import t from 'tap';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { registerBrowse } from '../../src/cli/browse.js';
import { type ConsumerOptions, consumerPlan, registerConsumer } from '../../src/cli/consumer.js';
import { formatDstat, registerDstat } from '../../src/cli/dstat.js';
import { registerProducer } from '../../src/cli/producer.js';
import { registerPurge } from '../../src/cli/purge.js';
import { bodyText, browsedView } from '../../src/cli/browse.js';
import { browsedMessage } from '../../src/client/message.js';
import {
  collectHeader,
  DEFAULT_DESTINATION,
  DEFAULT_URL,
  FLOW_REPORT_MS,
  formatStatus,
  formatTable,
  messageKey,
  isTransactionRolledBack,
  oneLine,
  parseAckMode,
  parseClientIdOption,
  parseDurableOption,
  parseSelectorOption,
  parseDestinationOption,
  parseHeader,
  parseHeaders,
  parseHeaderValue,
  parseIntOption,
  parseUrlOption,
  ratePerSecond,
  statusReporter,
  roundSeconds,
  RUN_HEADER,
  SEQ_HEADER,
  sizedBody,
  truncate,
  Window,
} from '../../src/cli/util.js';
import type { DestinationStats } from '../../src/protocol/commands.js';
import { packValue } from '../../src/protocol/codec.js';
import { BrokerError, ConnectionClosedError } from '../../src/errors.js';

/** A program with every client subcommand registered, throwing instead of exiting, printing nothing. */
function program(): Command {
  const p = new Command().name('ferrymq').exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  registerProducer(p);
  registerConsumer(p);
  registerDstat(p);
  registerBrowse(p);
  registerPurge(p);
  for (const c of p.commands) c.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  return p;
}

function sub(p: Command, name: string): Command {
  const c = p.commands.find((x) => x.name() === name);
  if (c === undefined) throw new Error(`no command ${name}`);
  return c;
}

/** Options of `name` after parsing `args` (without running the action). */
function optsOf(name: string, args: string[]): Record<string, unknown> {
  const c = sub(program(), name);
  c.parseOptions(args);
  return c.opts();
}

/** Parse a full command line that must fail in commander; resolves to the CommanderError. */
async function rejects(args: string[]): Promise<CommanderError> {
  try {
    await program().parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e;
    throw e;
  }
  throw new Error(`expected ${args.join(' ')} to be rejected`);
}

t.test('parseHeaderValue: numbers, booleans, strings', async (tt) => {
  tt.equal(parseHeaderValue('42'), 42);
  tt.equal(parseHeaderValue('-7'), -7);
  tt.equal(parseHeaderValue('3.5'), 3.5);
  tt.equal(parseHeaderValue('1e3'), 1000);
  tt.equal(parseHeaderValue('.5'), 0.5);
  tt.equal(parseHeaderValue('true'), true);
  tt.equal(parseHeaderValue('false'), false);
  tt.equal(parseHeaderValue('TRUE'), 'TRUE', 'booleans are lower-case only');
  tt.equal(parseHeaderValue(''), '', 'empty stays an empty string');
  tt.equal(parseHeaderValue('0x10'), '0x10', 'hex is text');
  tt.equal(parseHeaderValue('12abc'), '12abc');
  tt.equal(parseHeaderValue(' 1'), ' 1', 'whitespace is not trimmed into a number');
  tt.equal(parseHeaderValue('Infinity'), 'Infinity');
  tt.equal(parseHeaderValue('NaN'), 'NaN');
  tt.equal(parseHeaderValue('1e999'), '1e999', 'a number that overflows stays text');
});

t.test('parseHeader: splits at the first =', async (tt) => {
  tt.same(parseHeader('a=1'), ['a', 1]);
  tt.same(parseHeader('url=x=y'), ['url', 'x=y']);
  tt.same(parseHeader('k='), ['k', '']);
  tt.same(parseHeader('region=eu-west'), ['region', 'eu-west']);
  tt.throws(() => parseHeader('novalue'), InvalidArgumentError);
  tt.throws(() => parseHeader('=1'), /needs a name/);
  tt.throws(() => parseHeader(' =1'), /needs a name/);
  tt.throws(() => parseHeader(`${'k'.repeat(1025)}=1`), /1024/);
});

t.test('parseHeaders: map, duplicates and reserved names', async (tt) => {
  tt.same(parseHeaders([]), {});
  tt.same(parseHeaders(['a=1', 'b=true', 'c=hi']), { a: 1, b: true, c: 'hi' });
  tt.throws(() => parseHeaders(['a=1', 'a=2']), /given twice/);
  tt.throws(() => parseHeaders(['ferry.seq=1'], [RUN_HEADER, SEQ_HEADER]), /set by ferrymq itself/);
  tt.same(parseHeaders(['ferry.seq=1']), { 'ferry.seq': 1 }, 'reserved only when asked');
  const many = Array.from({ length: 1024 }, (_, i) => `h${i}=1`);
  tt.throws(() => parseHeaders(many, [RUN_HEADER, SEQ_HEADER]), /at most 1024/);
});

t.test('collectHeader accumulates and checks each occurrence', async (tt) => {
  const c = collectHeader([RUN_HEADER]);
  tt.same(c('b=2', c('a=1', [])), ['a=1', 'b=2']);
  tt.throws(() => c('a=2', ['a=1']), InvalidArgumentError);
  tt.throws(() => c('ferry.run=x', []), InvalidArgumentError);
});

t.test('parseIntOption bounds and strictness', async (tt) => {
  const p = parseIntOption('--count', 1, 10);
  tt.equal(p('1'), 1);
  tt.equal(p('10'), 10);
  tt.throws(() => p('0'), /--count must be an integer from 1 to 10, got "0"/);
  tt.throws(() => p('11'), InvalidArgumentError);
  tt.throws(() => p('1.5'), InvalidArgumentError);
  tt.throws(() => p('1e1'), InvalidArgumentError);
  tt.throws(() => p(''), InvalidArgumentError);
  tt.throws(() => p('abc'), InvalidArgumentError);
});

t.test('parseAckMode', async (tt) => {
  tt.equal(parseAckMode('auto'), 'auto');
  tt.equal(parseAckMode('client'), 'client');
  tt.equal(parseAckMode('individual'), 'individual');
  tt.throws(() => parseAckMode('AUTO'), /--ack must be one of auto, client, individual, got "AUTO"/);
  tt.throws(() => parseAckMode('dups_ok'), InvalidArgumentError);
});

t.test('parseUrlOption accepts tcp and failover URLs, rejects others clearly', async (tt) => {
  tt.equal(parseUrlOption('tcp://127.0.0.1:61616'), 'tcp://127.0.0.1:61616');
  const fo = 'failover:(tcp://127.0.0.1:61616,tcp://127.0.0.1:61617)?randomize=false';
  tt.equal(parseUrlOption(fo), fo);
  tt.throws(() => parseUrlOption('http://x'), /--url: .*http/);
  tt.throws(() => parseUrlOption('tcp://127.0.0.1:99999'), InvalidArgumentError);
  tt.throws(() => parseUrlOption('failover:(tcp://a:1)?bogus=1'), /bogus/);
});

t.test('parseDestinationOption', async (tt) => {
  for (const d of ['queue://A', 'topic://B', '/queue/C', 'plain', 'a.b.c']) tt.equal(parseDestinationOption(d), d);
  tt.throws(() => parseDestinationOption(''), /1 to 1024/);
  tt.throws(() => parseDestinationOption('queue://'), /1 to 1024/);
  tt.throws(() => parseDestinationOption(`queue://${'x'.repeat(1025)}`), /1 to 1024/);
  tt.throws(() => parseDestinationOption('queue://a\nb'), /control character/);
});

t.test('sizedBody: exact byte size with the sequence up front', async (tt) => {
  tt.equal(sizedBody(7, 10), '7:xxxxxxxx');
  tt.equal(Buffer.byteLength(sizedBody(123, 1024)), 1024);
  tt.equal(sizedBody(12345, 3), '123', 'cut when the prefix is longer than the size');
  tt.equal(sizedBody(1, 0), '');
  const filler = 'x'.repeat(2048);
  tt.equal(sizedBody(99, 1024, filler), sizedBody(99, 1024));
  tt.equal(sizedBody(99, 4096, filler).length, 4096, 'a too-short filler is not trusted');
});

t.test('messageKey: run + seq when present, else id', async (tt) => {
  tt.equal(messageKey({ [RUN_HEADER]: 'r1', [SEQ_HEADER]: 5 }, 'ID:1'), 'r1#5');
  tt.equal(messageKey({ [RUN_HEADER]: 'r1', [SEQ_HEADER]: 5 }, 'ID:2'), 'r1#5', 'same message, new id: still a duplicate');
  tt.equal(messageKey({ [RUN_HEADER]: 'r1' }, 'ID:1'), 'id:ID:1');
  tt.equal(messageKey({}, 'ID:1'), 'id:ID:1');
  tt.not(messageKey({ [RUN_HEADER]: 'r2', [SEQ_HEADER]: 5 }, 'x'), messageKey({ [RUN_HEADER]: 'r1', [SEQ_HEADER]: 5 }, 'x'));
});

t.test('rates, seconds and one-line errors', async (tt) => {
  tt.equal(ratePerSecond(1000, 0.5), 2000);
  tt.equal(ratePerSecond(10, 0), 0);
  tt.equal(ratePerSecond(0, 1), 0);
  tt.equal(roundSeconds(1234.5678), 1.234568);
  tt.equal(roundSeconds(0), 0);
  tt.equal(oneLine(new Error('a\n  b\nc')), 'a b c');
  tt.equal(oneLine('plain'), 'plain');
});

t.test('formatStatus: one line per connection status', async (tt) => {
  tt.equal(
    formatStatus({ type: 'interrupted', url: 'tcp://127.0.0.1:1', error: new Error('reset') }),
    'ferrymq: connection interrupted (tcp://127.0.0.1:1): reset',
  );
  tt.equal(
    formatStatus({ type: 'reconnecting', attempt: 3, delayMs: 40, url: 'tcp://127.0.0.1:1' }),
    'ferrymq: reconnecting attempt 3 in 40 ms to tcp://127.0.0.1:1',
  );
  tt.equal(formatStatus({ type: 'resumed', url: 'tcp://127.0.0.1:2' }), 'ferrymq: connection resumed on tcp://127.0.0.1:2');
  tt.equal(formatStatus({ type: 'failed', error: new Error('gone\nfor good') }), 'ferrymq: connection failed: gone for good');
});

t.test('statusReporter: a flapping producer block is one line per FLOW_REPORT_MS, other events every time', async (tt) => {
  const lines: string[] = [];
  let clock = 1_000_000;
  const report = statusReporter((l) => lines.push(l), () => clock);
  const url = 'tcp://127.0.0.1:1';
  for (let i = 0; i < 500; i++) {
    report({ type: 'blocked', url });
    report({ type: 'unblocked', url });
    clock += 10; // 500 blocks in 5 s
  }
  tt.same(lines, [formatStatus({ type: 'blocked', url }), formatStatus({ type: 'unblocked', url })], 'the first block and its release');
  report({ type: 'interrupted', url, error: new Error('reset') });
  tt.equal(lines.length, 3, 'other events are printed at once');
  clock += FLOW_REPORT_MS;
  report({ type: 'blocked', url });
  tt.equal(lines[3], `${formatStatus({ type: 'blocked', url })}; blocked 499 more times in the last 15 s`, 'then a block with the count of those not printed');
  report({ type: 'unblocked', url });
  tt.equal(lines[4], formatStatus({ type: 'unblocked', url }), 'and its release');
  tt.equal(lines.length, 5);
});

t.test('Window keeps at most N in flight and drains', async (tt) => {
  tt.throws(() => new Window(0), RangeError);
  const w = new Window(2);
  const resolvers: (() => void)[] = [];
  const deferred = (): Promise<void> => new Promise<void>((r) => resolvers.push(r));
  await w.add(deferred());
  tt.equal(w.pending, 1);
  let third = false;
  const adding = w.add(deferred()).then(() => (third = true));
  await new Promise((r) => setImmediate(r));
  tt.equal(w.pending, 2);
  tt.notOk(third, 'add waits while the window is full');
  resolvers[0]!();
  await adding;
  tt.ok(third, 'room again once one settles');
  tt.equal(w.pending, 1);
  let drained = false;
  const draining = w.drain().then(() => (drained = true));
  await new Promise((r) => setImmediate(r));
  tt.notOk(drained);
  resolvers[1]!();
  await draining;
  tt.ok(drained);
  tt.equal(w.pending, 0);
});

t.test('Window rethrows the first failure', async (tt) => {
  const w = new Window(10);
  await w.add(Promise.reject(new Error('first')));
  await w.add(Promise.reject(new Error('second'))).catch(() => {});
  await tt.rejects(w.drain(), /first/);
  await tt.rejects(w.add(Promise.resolve()), /first/, 'no more adds after a failure');
  const full = new Window(1);
  await tt.rejects(full.add(Promise.reject(new Error('while full'))), /while full/, 'a full window wakes on failure');
});

t.test('formatTable and formatDstat align columns', async (tt) => {
  tt.equal(formatTable(['A', 'Num'], [['x', '1'], ['long', '100']], [false, true]), 'A     Num\nx       1\nlong  100');
  const stats: DestinationStats[] = [
    { name: 'queue://ORDERS', kind: 'queue', queueSize: 12, inflight: 2, producerCount: 1, consumerCount: 3, enqueueCount: 100, dequeueCount: 88, forwardCount: 7, memoryBytes: 2048 },
    { name: 'topic://t', kind: 'topic', queueSize: 0, inflight: 0, producerCount: 0, consumerCount: 0, enqueueCount: 5, dequeueCount: 5, memoryBytes: 0 },
  ];
  const lines = formatDstat(stats).split('\n');
  tt.equal(lines.length, 3);
  tt.match(lines[0]!, /^Name\s+Queue Size\s+Producer #\s+Consumer #\s+Enqueue #\s+Dequeue #\s+Forward #\s+Memory \(KiB\)$/);
  tt.match(lines[1]!, /^queue:\/\/ORDERS\s+12\s+1\s+3\s+100\s+88\s+7\s+2\.0$/);
  tt.equal(new Set(lines.map((l) => l.length)).size, 1, 'every row as wide as the header');
});

t.test('truncate and browsed message views', async (tt) => {
  const wire = { id: 'm1', dest: 'queue://Q', body: Buffer.alloc(0), bt: 0, persistent: true, priority: 4, timestamp: 1, expires: 0, deliveryCount: 1 };
  tt.equal(truncate('abc', 5), 'abc');
  tt.equal(truncate('abcdef', 3), 'abc…');
  tt.equal(bodyText(browsedMessage({ ...wire, body: Buffer.from('héllo'), bt: 1 })), 'héllo');
  tt.equal(bodyText(browsedMessage({ ...wire, body: packValue({ a: 1 }), bt: 2 })), '{"a":1}');
  const v = browsedView(browsedMessage({ ...wire, body: Buffer.from('y'.repeat(500)), bt: 1, deliveryCount: 2 }));
  tt.equal((v['body'] as string).length, 201, '200 characters and the ellipsis');
  tt.same(v['headers'], {});
  tt.equal(v['deliveryCount'], 2);
});

t.test('producer defaults and option parsing', async (tt) => {
  const o = optsOf('producer', []);
  tt.equal(o['url'], DEFAULT_URL);
  tt.equal(o['destination'], DEFAULT_DESTINATION);
  tt.equal(o['count'], 1000);
  tt.equal(o['window'], 1000);
  tt.same(o['header'], []);
  tt.equal(o['persistent'], undefined, 'persistent unless --no-persistent');
  const p = optsOf('producer', ['--count', '5', '--no-persistent', '--header', 'a=1', '--header', 'b=x', '--priority', '9', '--ttl', '500']);
  tt.equal(p['count'], 5);
  tt.equal(p['persistent'], false);
  tt.same(p['header'], ['a=1', 'b=x']);
  tt.equal(p['priority'], 9);
  tt.equal(p['ttl'], 500);
});

t.test('producer rejects bad values before connecting', async (tt) => {
  for (const args of [
    ['--count', '0'],
    ['--count', 'ten'],
    ['--size', '-1'],
    ['--priority', '10'],
    ['--ttl', '-5'],
    ['--window', '0'],
    ['--header', 'nope'],
    ['--header', 'ferry.seq=1'],
    ['--header', 'a=1', '--header', 'a=2'],
    ['--url', 'http://127.0.0.1'],
    ['--destination', 'queue://'],
  ]) {
    const e = await rejects(['producer', ...args]);
    tt.equal(e.code, 'commander.invalidArgument', args.join(' '));
    tt.equal(e.exitCode, 1);
  }
  const c = await rejects(['producer', '--size', '10', '--message', 'hi']);
  tt.equal(c.code, 'commander.conflictingOption', '--size and --message conflict');
});

t.test('consumer defaults and bad values', async (tt) => {
  const o = optsOf('consumer', []);
  tt.equal(o['ack'], 'auto');
  tt.equal(o['prefetch'], 1000);
  tt.equal(o['count'], undefined);
  tt.equal(o['idleTimeout'], undefined);
  const p = optsOf('consumer', ['--ack', 'individual', '--prefetch', '1', '--idle-timeout', '250', '--count', '3', '--print']);
  tt.equal(p['ack'], 'individual');
  tt.equal(p['prefetch'], 1);
  tt.equal(p['idleTimeout'], 250);
  tt.equal(p['count'], 3);
  tt.equal(p['print'], true);
  for (const args of [['--ack', 'dups'], ['--prefetch', '0'], ['--idle-timeout', '0'], ['--count', '-1'], ['--idle-timeout', '2147483648']]) {
    const e = await rejects(['consumer', ...args]);
    tt.equal(e.code, 'commander.invalidArgument', args.join(' '));
  }
});

t.test('browse, purge and dstat options', async (tt) => {
  tt.equal(optsOf('browse', [])['max'], 100);
  tt.equal(optsOf('browse', ['--max', '7'])['max'], 7);
  tt.equal((await rejects(['browse', '--max', '0'])).code, 'commander.invalidArgument');
  tt.equal((await rejects(['purge'])).code, 'commander.missingMandatoryOptionValue', 'purge needs an explicit destination');
  tt.equal((await rejects(['dstat', '--url', 'nope://x'])).code, 'commander.invalidArgument');
});

t.test('--help documents every flag of every client subcommand', async (tt) => {
  const flags: Record<string, string[]> = {
    producer: [
      '--url', '--destination', '--count', '--size', '--message', '--persistent', '--no-persistent', '--priority', '--ttl',
      '--header', '--window', '--rate', '--client-id', '--transacted', '--batch', '--json',
    ],
    consumer: [
      '--url', '--destination', '--count', '--ack', '--prefetch', '--idle-timeout', '--selector', '--client-id', '--durable',
      '--unsubscribe', '--transacted', '--batch', '--nack-every', '--print', '--json',
    ],
    dstat: ['--url', '--json'],
    browse: ['--url', '--destination', '--max', '--json'],
    purge: ['--url', '--destination', '--json'],
  };
  // Every client subcommand takes the security options too.
  for (const list of Object.values(flags)) list.push('--user', '--password', '--ca', '--cert', '--key');
  const p = program();
  for (const [name, list] of Object.entries(flags)) {
    const c = sub(p, name);
    const help = c.helpInformation();
    for (const f of list) tt.match(help, new RegExp(`${f}\\b`), `${name} --help mentions ${f}`);
    for (const opt of c.options) tt.ok(opt.description.length > 0, `${name} ${opt.long} has a description`);
    tt.equal(c.options.length, list.length, `${name}: every option is in the list above`);
  }
});

/** Consumer options as parsed from `args`, and whether each of --ack / --batch was given. */
function consumerArgs(args: string[]): [ConsumerOptions, (o: 'ack' | 'batch') => boolean] {
  const c = sub(program(), 'consumer');
  c.parseOptions(args);
  return [c.opts() as ConsumerOptions, (o) => c.getOptionValueSource(o) === 'cli'];
}

const planOf = (args: string[]): ReturnType<typeof consumerPlan> => consumerPlan(...consumerArgs(args));

t.test('consumer plan: ack mode implied by --transacted and --nack-every', async (tt) => {
  tt.same(planOf([]), { ack: 'auto', batch: null, nackEvery: null, unsubscribeOnly: false });
  tt.same(planOf(['--transacted']), { ack: 'client', batch: 100, nackEvery: null, unsubscribeOnly: false }, 'transacted: client, batch 100');
  tt.equal(planOf(['--transacted', '--batch', '10']).batch, 10);
  tt.equal(planOf(['--transacted', '--ack', 'individual']).ack, 'individual', 'an explicit --ack client/individual is kept');
  tt.same(planOf(['--nack-every', '3']), { ack: 'individual', batch: null, nackEvery: 3, unsubscribeOnly: false }, 'nack-every: individual');
  tt.equal(planOf(['--nack-every', '1', '--ack', 'client']).ack, 'client');
  tt.equal(planOf(['--nack-every', '2', '--transacted']).ack, 'client', 'transacted and nack-every: client');
  tt.same(planOf(['--durable', 'd', '--client-id', 'c', '--destination', 'topic://T']).ack, 'auto');
  tt.equal(planOf(['--durable', 'd', '--client-id', 'c', '--destination', '/topic/T']).ack, 'auto', '/topic/ form');
  tt.equal(planOf(['--client-id', 'c']).ack, 'auto', '--client-id alone is fine');
  tt.same(planOf(['--durable', 'd', '--client-id', 'c', '--unsubscribe']).unsubscribeOnly, true, '--unsubscribe needs no topic destination');
});

t.test('consumer plan: conflicting options are refused', async (tt) => {
  const cases: [string[], RegExp][] = [
    [['--nack-every', '2', '--ack', 'auto'], /--nack-every needs --ack client or individual/],
    [['--transacted', '--ack', 'auto'], /--transacted cannot be used with --ack auto/],
    [['--batch', '10'], /--batch needs --transacted/],
    [['--transacted', '--batch', '500', '--prefetch', '100'], /--batch 500 exceeds --prefetch 100/],
    [['--durable', 'd', '--destination', 'topic://T'], /--durable needs --client-id/],
    [['--durable', 'd', '--client-id', 'c'], /--durable needs a topic --destination/],
    [['--durable', 'd', '--client-id', 'c', '--destination', 'queue://Q'], /--durable needs a topic --destination/],
    [['--unsubscribe'], /--unsubscribe needs --durable NAME and --client-id ID/],
    [['--unsubscribe', '--durable', 'd'], /--unsubscribe needs --durable NAME and --client-id ID/],
    [['--unsubscribe', '--client-id', 'c'], /--unsubscribe needs --durable NAME and --client-id ID/],
  ];
  for (const [args, re] of cases) {
    tt.throws(() => planOf(args), re, args.join(' '));
    // The same through the command line: a usage error before anything connects.
    const e = await rejects(['consumer', '--url', 'tcp://127.0.0.1:1', ...args]);
    tt.equal(e.code, 'commander.invalidArgument', `${args.join(' ')}: invalid argument`);
    tt.equal(e.exitCode, 1);
    tt.match(e.message, re);
  }
});

t.test('consumer: new option values', async (tt) => {
  const o = optsOf('consumer', ['--selector', "color = 'red'", '--client-id', 'c1', '--durable', 's1', '--nack-every', '7', '--transacted', '--batch', '5', '--unsubscribe']);
  tt.equal(o['selector'], "color = 'red'");
  tt.equal(o['clientId'], 'c1');
  tt.equal(o['durable'], 's1');
  tt.equal(o['nackEvery'], 7);
  tt.equal(o['transacted'], true);
  tt.equal(o['batch'], 5);
  tt.equal(o['unsubscribe'], true);
  tt.equal(optsOf('consumer', [])['batch'], 100, '--batch defaults to 100');
  for (const args of [['--nack-every', '0'], ['--batch', '0'], ['--selector', '  '], ['--client-id', ''], ['--durable', ''], ['--client-id', 'a\tb']]) {
    const e = await rejects(['consumer', ...args]);
    tt.equal(e.code, 'commander.invalidArgument', args.join(' '));
  }
});

t.test('producer: --client-id, --transacted and --batch', async (tt) => {
  const o = optsOf('producer', ['--client-id', 'p1', '--transacted', '--batch', '10']);
  tt.equal(o['clientId'], 'p1');
  tt.equal(o['transacted'], true);
  tt.equal(o['batch'], 10);
  tt.equal(optsOf('producer', [])['batch'], 100, '--batch defaults to 100');
  tt.equal(optsOf('producer', [])['transacted'], undefined);
  for (const args of [['--batch', '0'], ['--batch', '100001'], ['--client-id', '']]) {
    const e = await rejects(['producer', ...args]);
    tt.equal(e.code, 'commander.invalidArgument', args.join(' '));
  }
  const e = await rejects(['producer', '--url', 'tcp://127.0.0.1:1', '--batch', '10']);
  tt.equal(e.code, 'commander.invalidArgument', '--batch without --transacted');
  tt.match(e.message, /--batch needs --transacted/);
});

t.test('option parsers for ids and selectors; transaction rollback detection', async (tt) => {
  tt.equal(parseClientIdOption('client-1'), 'client-1');
  tt.throws(() => parseClientIdOption('x'.repeat(257)), /1 to 256/);
  tt.throws(() => parseClientIdOption('a\nb'), /control character/);
  tt.equal(parseDurableOption('sub'), 'sub');
  tt.throws(() => parseDurableOption(''), /1 to 256/);
  tt.equal(parseSelectorOption("a = 'b'"), "a = 'b'");
  tt.throws(() => parseSelectorOption(''), /must not be empty/);
  tt.ok(isTransactionRolledBack(new BrokerError('FERRY_UNKNOWN_TRANSACTION', 'rolled back')));
  tt.notOk(isTransactionRolledBack(new ConnectionClosedError('closed')));
  tt.notOk(isTransactionRolledBack(new Error('FERRY_UNKNOWN_TRANSACTION')));
});
