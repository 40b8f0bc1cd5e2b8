import type { Command } from 'commander';
import { DEFAULT_URL, oneLine, parseQueueOption, parseUrlOption, URL_HELP, withConnection } from './util.js';
import { connectSecurity, type SecurityOptions, securityOptions } from './security.js';

interface PurgeOptions extends SecurityOptions {
  url: string;
  destination: string;
  json?: boolean;
}

/** `ferrymq purge`: drop the waiting messages of a queue. */
export function registerPurge(program: Command): void {
  const cmd = program
    .command('purge')
    .summary('drop the messages waiting on a queue')
    .description('drop every message waiting on a queue (messages in flight to a consumer stay)')
    .option('--url <url>', URL_HELP, parseUrlOption, DEFAULT_URL)
    .requiredOption('--destination <dest>', 'queue://NAME or NAME (a queue) to purge; topics cannot be purged', parseQueueOption)
    .option('--json', 'print {"purged":N,"destination":DEST} instead of the sentence');
  securityOptions(cmd)
    .action(async (opts: PurgeOptions) => {
      let n: number;
      try {
        n = await withConnection(opts.url, (conn) => conn.purge(opts.destination), undefined, connectSecurity(opts));
      } catch (err) {
        throw new Error(oneLine(err));
      }
      if (opts.json) process.stdout.write(`${JSON.stringify({ purged: n, destination: opts.destination })}\n`);
      else process.stdout.write(`purged ${n} message${n === 1 ? '' : 's'} from ${opts.destination}\n`);
    });
}
