import type { Command } from 'commander';
import type { BrowsedMessage } from '../client/message.js';
import { BodyType } from '../protocol/commands.js';
import {
  DEFAULT_DESTINATION,
  DEFAULT_URL,
  oneLine,
  parseQueueOption,
  parseIntOption,
  parseUrlOption,
  truncate,
  URL_HELP,
  withConnection,
} from './util.js';
import { connectSecurity, type SecurityOptions, securityOptions } from './security.js';

interface BrowseOptions extends SecurityOptions {
  url: string;
  destination: string;
  max: number;
  json?: boolean;
}

/** Body characters shown per message. */
const BODY_MAX = 200;

/** A browsed body as text: text and bytes decoded as UTF-8, a structured value as JSON. */
export function bodyText(m: Pick<BrowsedMessage, 'body' | 'bytes' | 'bodyType'>): string {
  if (m.bodyType === BodyType.Value) {
    try {
      return JSON.stringify(m.body) ?? '';
    } catch {
      // a value JSON cannot show (a BigInt, a cycle): its bytes as text
    }
  }
  const b = m.bytes;
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

/** One browsed message as JSON-friendly data (body text cut to 200 characters). */
export function browsedView(m: BrowsedMessage): Record<string, unknown> {
  return {
    id: m.id,
    priority: m.priority,
    deliveryCount: m.deliveryCount,
    persistent: m.persistent,
    timestamp: m.timestamp,
    expires: m.expires,
    headers: m.headers ?? {},
    body: truncate(bodyText(m), BODY_MAX),
  };
}

/** `ferrymq browse`: look at the messages waiting on a queue without consuming them. */
export function registerBrowse(program: Command): void {
  const cmd = program
    .command('browse')
    .summary('show the messages waiting on a queue')
    .description('show the messages waiting on a queue without consuming them')
    .option('--url <url>', URL_HELP, parseUrlOption, DEFAULT_URL)
    .option('--destination <dest>', 'queue://NAME or NAME (a queue); topics cannot be browsed', parseQueueOption, DEFAULT_DESTINATION)
    .option('--max <n>', 'show at most this many messages', parseIntOption('--max', 1, 1_000_000), 100)
    .option(
      '--json',
      'print a JSON array of {id, priority, deliveryCount, persistent, timestamp, expires, headers, body}',
    )
  securityOptions(cmd);
  cmd
    .addHelpText('after', `\nBodies are shown as text (structured values as JSON), cut to ${BODY_MAX} characters.`)
    .action(async (opts: BrowseOptions) => {
      let msgs: BrowsedMessage[];
      try {
        msgs = await withConnection(opts.url, (conn) => conn.browse(opts.destination, opts.max), undefined, connectSecurity(opts));
      } catch (err) {
        throw new Error(oneLine(err));
      }
      const views = msgs.map(browsedView);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(views)}\n`);
        return;
      }
      const out: string[] = [];
      for (const v of views) {
        out.push(`id: ${String(v['id'])}  priority: ${String(v['priority'])}  deliveryCount: ${String(v['deliveryCount'])}`);
        out.push(`  headers: ${JSON.stringify(v['headers'])}`);
        out.push(`  body: ${JSON.stringify(v['body'])}`);
      }
      out.push(`${msgs.length} message${msgs.length === 1 ? '' : 's'} on ${opts.destination}${msgs.length >= opts.max ? ` (--max ${opts.max} reached)` : ''}`);
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
