import { readdir, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { WebConsoleConfig } from '../config/config.js';
import { FerryError } from '../errors.js';
import type { Logger } from '../log.js';
import { ConsoleActions } from './actions.js';
import { type ConsoleAuthenticator, fixedCredentials } from './auth.js';
import { sendJson, statusOf } from './http.js';
import { LiveFeed } from './live.js';
import { PrometheusMetrics } from './metrics.js';
import { RateHistory } from './rates.js';
import { MethodNotAllowed, route, type RouteContext } from './routes.js';
import { type ConsoleSources, Views } from './views.js';

/** The stats tick: rates are sampled and pages updated this often. */
export const STATS_TICK_MS = 1000;
/** Store size is measured every this many ticks (a directory walk, off the hot path). */
const STORE_SIZE_EVERY_TICKS = 10;

export interface WebConsoleOptions extends WebConsoleConfig {
  /** Stands in for user/password when set: the broker's authenticate hook (security). */
  authenticate?: ConsoleAuthenticator;
}

/**
 * The web console, JSON API and Prometheus metrics of one node: a service the node starts first (a slave waiting
 * for the store lock serves it too, saying so) and stops last. Read-only pages are open; actions that change state
 * need credentials. Nothing here runs per message: pages read the broker's counters once a second.
 */
export class WebConsole {
  readonly name = 'web console';
  private server: Server | null = null;
  private timer: NodeJS.Timeout | null = null;
  private ticks = 0;
  private storeBytes: number | null = null;
  private measuring = false;
  private readonly rates = new RateHistory();
  private readonly live = new LiveFeed();
  private readonly views: Views;
  private readonly ctx: RouteContext;
  private readonly log: Logger;

  constructor(
    private readonly opts: WebConsoleOptions,
    private readonly src: ConsoleSources,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'console' });
    this.views = new Views(src, this.rates, Date.now(), () => this.storeBytes);
    const auth = opts.authenticate ?? (opts.user !== undefined && opts.password !== undefined ? fixedCredentials(opts.user, opts.password) : null);
    this.ctx = {
      views: this.views,
      actions: new ConsoleActions(src.broker),
      rates: this.rates,
      live: this.live,
      metrics: new PrometheusMetrics(this.views),
      auth,
      log: this.log,
      snapshot: () => this.snapshot(),
    };
  }

  /** `http://host:port/` once started (the bound port when configured as 0). */
  get url(): string {
    const a = this.server?.address() as AddressInfo | null | undefined;
    const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    return `http://${host}:${a?.port ?? this.opts.port}/`;
  }

  /** Listen; resolves once bound. Idempotent. @throws FerryError FERRY_CONFIG when the address cannot be bound */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => this.handle(req, res));
    // A malformed request line or header: answer 400 and close, never throw.
    server.on('clientError', (err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\nmalformed HTTP request\n');
      else socket.destroy(err);
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'the address is in use (another console? set <webConsole port>, --console-port, or --no-console)' : err.message;
        reject(new FerryError('FERRY_CONFIG', `web console cannot listen on ${this.opts.host}:${this.opts.port}: ${why}`, { cause: err }));
      });
      server.listen({ host: this.opts.host, port: this.opts.port }, () => resolve());
    });
    // Not listen's own signal option: that would close the console as soon as the node begins to stop, and the
    // console is meant to be the last thing standing.
    if (signal?.aborted) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw new FerryError('FERRY_BROKER_STOPPING', 'web console: stopped while starting');
    }
    server.on('error', (err) => this.log.error({ err }, 'web console server error'));
    this.server = server;
    this.live.watch(this.src.broker.events);
    this.timer = setInterval(() => this.tick(), STATS_TICK_MS);
    this.timer.unref();
    this.warnIfExposed();
    this.log.info({ consoleUrl: this.url, actions: this.ctx.auth !== null }, 'web console at %s', this.url);
  }

  /** Close the live pages, stop the tick, close the server. Idempotent. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.live.stop();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    // Another site's page must not drive the actions with a browser's remembered credentials.
    const origin = req.headers.origin;
    if (origin !== undefined && req.method !== 'GET' && req.method !== 'HEAD' && !sameOrigin(origin, req.headers.host)) {
      return sendJson(res, 403, { error: `cross-origin ${req.method} from ${origin} refused`, code: 'FERRY_FORBIDDEN' });
    }
    route(this.ctx, req, res).catch((err: unknown) => this.fail(req, res, err));
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof MethodNotAllowed) {
      res.setHeader('allow', err.allow);
      return sendJson(res, 405, { error: err.message, code: 'FERRY_BAD_REQUEST' });
    }
    const status = statusOf(err);
    const code = err instanceof FerryError ? err.code : 'FERRY_INTERNAL';
    if (status >= 500 && status !== 503) this.log.error({ err, method: req.method, url: req.url }, 'web console request failed');
    // The page's own requests say so: a 401 to them must not pop the browser's password dialog.
    if (status === 401 && req.headers['x-ferrymq-console'] === undefined) res.setHeader('www-authenticate', 'Basic realm="ferrymq console", charset="UTF-8"');
    const message = status === 500 ? 'internal error (see the broker log)' : (err as Error).message;
    sendJson(res, status, { error: message, code });
  }

  private snapshot(): unknown {
    const stats = this.src.broker.stats();
    return { t: Date.now(), broker: this.views.broker(stats), queues: this.views.queues(stats), topics: this.views.topics(stats), total: null };
  }

  private tick(): void {
    try {
      const stats = this.src.broker.stats();
      this.rates.sample(Date.now(), stats);
      if (this.live.size > 0) {
        const t = Date.now();
        this.live.broadcast('stats', { t, broker: this.views.broker(stats), queues: this.views.queues(stats), topics: this.views.topics(stats), total: this.rates.latestTotal() });
      }
      if (this.ticks++ % STORE_SIZE_EVERY_TICKS === 0) void this.measureStore();
    } catch (err) {
      this.log.error({ err }, 'web console stats tick failed');
    }
  }

  private async measureStore(): Promise<void> {
    if (this.measuring || this.src.store.kind === 'memory') return;
    this.measuring = true;
    try {
      this.storeBytes = await directoryBytes(this.src.store.directory);
    } catch {
      this.storeBytes = null; // not created yet (a slave before takeover)
    } finally {
      this.measuring = false;
    }
  }

  private warnIfExposed(): void {
    const w = exposureWarning(this.opts, this.ctx.auth !== null);
    if (w !== null) this.log.warn({ host: this.opts.host, port: this.opts.port }, 'web console on %s %s', this.url, w);
  }
}

/**
 * What to warn about at startup, or null: a console reachable from other machines with no credentials (its pages
 * are open to all), or with ActiveMQ's default admin/admin.
 */
export function exposureWarning(opts: WebConsoleOptions, hasAuth: boolean): string | null {
  if (isLoopback(opts.host)) return null;
  if (!hasAuth) {
    return 'has no credentials: anyone who reaches it reads the broker\'s pages; actions stay disabled until <webConsole user="…" password="…"/> is set';
  }
  if (opts.authenticate === undefined && opts.user === 'admin' && opts.password === 'admin') return 'uses the default admin/admin credentials: change them';
  return null;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Bytes of the files under `dir` (LevelDB keeps a flat directory; one level of subdirectories is enough). */
async function directoryBytes(dir: string, depth = 0): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isFile()) n += (await stat(p).catch(() => ({ size: 0 }))).size;
    else if (e.isDirectory() && depth < 2) n += await directoryBytes(p, depth + 1);
  }
  return n;
}
