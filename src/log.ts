import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * The root logger: pretty on a TTY, JSON lines otherwise (pipes, files, CI). Modules take a child:
 * `log.child({ module: 'queue' })`. Level from FERRYMQ_LOG_LEVEL (default info).
 */
export function createLogger(opts: { level?: string; name?: string; pretty?: boolean } = {}): Logger {
  const level = opts.level ?? process.env['FERRYMQ_LOG_LEVEL'] ?? 'info';
  const pretty = opts.pretty ?? (process.stdout.isTTY === true);
  if (pretty) {
    // Loaded only here, and run in this thread: as a pino transport it started a worker thread (a second V8
    // instance: ~10 MiB and tens of ms of every interactive start-up) to format a few lines a second for a terminal.
    const prettyStream = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(
      { level, name: opts.name },
      prettyStream({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true }),
    );
  }
  return pino({ level, name: opts.name });
}

/** A logger that writes nothing: for embedded brokers and unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
