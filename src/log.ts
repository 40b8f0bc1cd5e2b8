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
    return pino({
      level,
      name: opts.name,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, name: opts.name });
}

/** A logger that writes nothing: for embedded brokers and unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
