import type { Command } from 'commander';
import type { DestinationStats } from '../protocol/commands.js';
import { DEFAULT_URL, formatTable, oneLine, parseUrlOption, URL_HELP, withConnection } from './util.js';

interface DstatOptions {
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

/** `ferrymq dstat`: destination statistics, as `activemq dstat` shows them. */
export function registerDstat(program: Command): void {
  program
    .command('dstat')
    .summary('show destination statistics')
    .description('show statistics of every destination on the broker (as "activemq dstat")')
    .option('--url <url>', URL_HELP, parseUrlOption, DEFAULT_URL)
    .option('--json', 'print the statistics as a JSON array (one object per destination)')
    .addHelpText(
      'after',
      '\nColumns: Name (queue://NAME or topic://NAME), Queue Size (waiting + in flight), Producer #, Consumer #,\n' +
        'Enqueue #, Dequeue #, Forward # (sent on to other brokers by network bridges),\n' +
        'Memory (KiB): bytes of message bodies the destination holds in memory.',
    )
    .action(async (opts: DstatOptions) => {
      let stats: DestinationStats[];
      try {
        stats = await withConnection(opts.url, (conn) => conn.stats());
      } catch (err) {
        throw new Error(oneLine(err));
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(stats)}\n`);
      else process.stdout.write(`${formatDstat(stats)}\n`);
    });
}
