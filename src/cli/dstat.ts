import type { Command } from 'commander';
import type { BrokerInfo, DestinationStats } from '../protocol/commands.js';
import { DEFAULT_URL, formatTable, oneLine, parseUrlOption, URL_HELP, withConnection } from './util.js';
import { connectSecurity, type SecurityOptions, securityOptions } from './security.js';

interface DstatOptions extends SecurityOptions {
  url: string;
  json?: boolean;
}

const COLUMNS = ['Name', 'Queue Size', 'Producer #', 'Consumer #', 'Enqueue #', 'Dequeue #', 'Forward #', 'Memory (KiB)'] as const;

/** The dstat table: ActiveMQ's columns, with memory as KiB in use rather than a percentage of a limit. */
export function formatDstat(stats: readonly DestinationStats[]): string {
  const rows = stats.map((s) => [
    s.name,
    String(s.queueSize),
    String(s.producerCount),
    String(s.consumerCount),
    String(s.enqueueCount),
    String(s.dequeueCount),
    String(s.forwardCount ?? 0),
    (s.memoryBytes / 1024).toFixed(1),
  ]);
  return formatTable(COLUMNS, rows, [false, true, true, true, true, true, true, true]);
}

/** The line under the table: `Broker node-b: master of /data/shared (epoch 3, since 2024-05-01T10:00:00.000Z), ferrymq 0.1.0`. */
export function formatBrokerLine(info: BrokerInfo): string {
  const rep = info.replication;
  const role =
    rep !== undefined
      ? `master of replicated store ${info.directory ?? '?'} (epoch ${info.epoch ?? '?'}, quorum ${rep.quorum} of ${rep.nodes}, ZooKeeper session ${rep.zkSession}; ` +
        `${rep.replicas.map((r) => `replica ${r.broker} ${r.state} lag ${r.lag}`).join(', ') || 'no replica connected'})`
      : info.role === 'master'
      ? `master of ${info.directory ?? '?'} (epoch ${info.epoch ?? '?'}${info.masterSince ? `, since ${new Date(info.masterSince).toISOString()}` : ''})`
      : info.role;
  return `Broker ${info.name}: ${role}, ferrymq ${info.version}, ${info.connections} connection(s)`;
}

/** `ferrymq dstat`: destination statistics, as `activemq dstat` shows them. */
export function registerDstat(program: Command): void {
  const cmd = program
    .command('dstat')
    .summary('show destination statistics')
    .description('show statistics of every destination on the broker (as "activemq dstat")')
    .option('--url <url>', URL_HELP, parseUrlOption, DEFAULT_URL)
    .option('--json', 'print the statistics as a JSON array (one object per destination)')
  securityOptions(cmd);
  cmd
    .addHelpText(
      'after',
      '\nThe last line names the broker and its role (master of a shared store, or standalone); --json prints\n' +
        'only the destinations. Columns: Name (queue://NAME or topic://NAME), Queue Size (waiting + in flight),\n' +
        'Producer #, Consumer #, Enqueue #, Dequeue #, Forward # (sent on to other brokers by network bridges),\n' +
        'Memory (KiB): bytes of message bodies the destination holds in memory.',
    )
    .action(async (opts: DstatOptions) => {
      let stats: DestinationStats[];
      let info: BrokerInfo | null = null;
      try {
        stats = await withConnection(opts.url, async (conn) => {
          if (!opts.json) info = await conn.info().catch(() => null); // a broker without INFO: no header
          return conn.stats();
        }, undefined, connectSecurity(opts));
      } catch (err) {
        const refused = /ECONNREFUSED/.test(oneLine(err));
        // A slave of a shared store opens no port until it is master: say so rather than leave "refused" bare.
        throw new Error(oneLine(err) + (refused ? ' (no broker listens there; a slave waiting for its store lock opens no port)' : ''));
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(stats)}\n`);
      // Below the table, so the table's header stays the first line (as in `activemq dstat`) for scripts.
      else process.stdout.write(`${formatDstat(stats)}\n${info ? `${formatBrokerLine(info)}\n` : ''}`);
    });
}
