import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { DestinationKind } from '../model/destination.js';
import type { Logger } from '../log.js';
import type { ConsoleActions } from './actions.js';
import { type ConsoleAuthenticator, optionalUser, requireUser } from './auth.js';
import { badRequest, notFound, readJson, sendFile, sendJson, sendText } from './http.js';
import type { LiveFeed } from './live.js';
import type { PrometheusMetrics } from './metrics.js';
import type { RateHistory } from './rates.js';
import type { Views } from './views.js';
import { fromRoot } from '../root.js';

/** The page, its script and stylesheet: `web/` at the package root. */
const WEB = fromRoot('web/');
/** uPlot from node_modules: the console loads nothing from other hosts. */
const UPLOT = (() => {
  const req = createRequire(import.meta.url);
  return { js: req.resolve('uplot/dist/uPlot.iife.min.js'), css: req.resolve('uplot/dist/uPlot.min.css') };
})();
const ASSETS: Record<string, string> = {
  '/assets/app.js': join(WEB, 'app.js'),
  '/assets/style.css': join(WEB, 'style.css'),
  '/assets/uPlot.iife.min.js': UPLOT.js,
  '/assets/uPlot.min.css': UPLOT.css,
};
/** Pages: one HTML shell, the script draws the page its path names. */
const PAGES = new Set(['/', '/queues', '/topics', '/connections', '/network']);

export interface RouteContext {
  views: Views;
  actions: ConsoleActions;
  rates: RateHistory;
  live: LiveFeed;
  metrics: PrometheusMetrics;
  auth: ConsoleAuthenticator | null;
  log: Logger;
  /** The snapshot a `stats` event carries. */
  snapshot(): unknown;
}

/** A request as the routes see it: method, path split into decoded segments, query. */
interface Req {
  method: string;
  path: string;
  seg: string[];
  query: URLSearchParams;
  raw: IncomingMessage;
}

/** Route one request. Throws FerryError for anything the caller got wrong; the server maps it to a status. */
export async function route(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://console');
  let seg: string[];
  try {
    seg = url.pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
  } catch {
    throw badRequest(`malformed percent-encoding in path ${url.pathname}`);
  }
  const r: Req = { method: req.method ?? 'GET', path: url.pathname, seg, query: url.searchParams, raw: req };
  const read = r.method === 'GET' || r.method === 'HEAD';
  if (read && PAGES.has(r.path.replace(/\/$/, '') || '/')) return sendFile(res, join(WEB, 'index.html'), r.method);
  if (read && ASSETS[r.path] !== undefined) return sendFile(res, ASSETS[r.path]!, r.method);
  if (r.path === '/metrics') {
    allow(r, 'GET');
    const m = await ctx.metrics.scrape();
    return sendText(res, 200, m.contentType, m.text);
  }
  if (seg[0] !== 'api') throw notFound(`nothing at ${r.path}; the console's pages are /, /queues, /topics, /connections, /network; its API is under /api/`);
  return api(ctx, r, res);
}

async function api(ctx: RouteContext, r: Req, res: ServerResponse): Promise<void> {
  const [, what, name, sub, ...rest] = r.seg;
  if (rest.length > 0) throw notFound(`no API at ${r.path}`);
  const v = ctx.views;
  switch (what) {
    case undefined:
      allow(r, 'GET');
      return sendJson(res, 200, { endpoints: ENDPOINTS });
    case 'broker':
      allow(r, 'GET');
      return sendJson(res, 200, v.broker());
    case 'whoami': {
      allow(r, 'GET');
      const user = await requireUser(r.raw, ctx.auth);
      return sendJson(res, 200, { user });
    }
    case 'rates':
      allow(r, 'GET');
      return sendJson(res, 200, ctx.rates.totals());
    case 'events':
      allow(r, 'GET');
      if (!ctx.live.add(res, ctx.snapshot())) sendJson(res, 503, { error: 'too many live pages open on this console; close some', code: 'FERRY_RESOURCE_EXHAUSTED' });
      return;
    case 'connections':
      allow(r, 'GET');
      return sendJson(res, 200, v.connections());
    case 'network':
      allow(r, 'GET');
      return sendJson(res, 200, v.network());
    case 'subscribers':
      allow(r, 'GET');
      return sendJson(res, 200, v.durables());
    case 'queues':
    case 'topics':
      return destinations(ctx, r, res, what === 'queues' ? 'queue' : 'topic', name, sub);
    default:
      throw notFound(`no API at ${r.path}; GET /api lists the endpoints`);
  }
}

async function destinations(ctx: RouteContext, r: Req, res: ServerResponse, kind: DestinationKind, name: string | undefined, sub: string | undefined): Promise<void> {
  const v = ctx.views;
  if (name === undefined) {
    allow(r, 'GET', 'POST');
    if (r.method === 'POST') {
      const user = await requireUser(r.raw, ctx.auth);
      const body = await readJson(r.raw);
      const n = body['name'];
      if (typeof n !== 'string') throw badRequest(`name must be a string (the ${kind} name, without ${kind}://)`);
      const out = ctx.actions.create(kind, n);
      if (out.created) ctx.log.info({ user, dest: out.dest }, 'console: %s created %s', user, out.dest);
      return sendJson(res, out.created ? 201 : 200, out);
    }
    return sendJson(res, 200, kind === 'queue' ? v.queues() : v.topics());
  }
  const dest = ctx.actions.dest(kind, name);
  if (sub === undefined) {
    allow(r, 'GET', 'DELETE');
    if (r.method === 'DELETE') {
      const user = await requireUser(r.raw, ctx.auth);
      const out = await ctx.actions.delete(user, kind, name);
      ctx.log.info({ user, dest, messages: out.messages }, 'console: %s deleted %s (%d messages)', user, dest, out.messages);
      return sendJson(res, 200, out);
    }
    const row = (kind === 'queue' ? v.queues() : v.topics()).find((x) => x.dest === dest);
    if (row === undefined) throw notFound(`no ${kind} ${JSON.stringify(name)}`);
    return sendJson(res, 200, row);
  }
  switch (sub) {
    case 'rates': {
      allow(r, 'GET');
      const s = ctx.rates.of(dest);
      if (s === null) throw notFound(`no rate history for ${dest} (unknown, or past the charted destinations limit)`);
      return sendJson(res, 200, s);
    }
    case 'messages':
      allow(r, kind === 'queue' ? 'GET' : 'POST', 'POST');
      if (r.method === 'GET') return sendJson(res, 200, ctx.actions.browse(name, r.query.get('max'), await optionalUser(r.raw, ctx.auth)));
      {
        const user = await requireUser(r.raw, ctx.auth);
        const body = await readJson(r.raw);
        const out = await ctx.actions.send(user, kind, name, body);
        ctx.log.info({ user, dest, count: out.sent }, 'console: %s sent %d message(s) to %s', user, out.sent, dest);
        return sendJson(res, 200, out);
      }
    case 'purge': {
      if (kind !== 'queue') throw notFound('only queues can be purged');
      allow(r, 'POST');
      const user = await requireUser(r.raw, ctx.auth);
      const out = await ctx.actions.purge(user, name);
      ctx.log.info({ user, dest, purged: out.purged }, 'console: %s purged %s (%d messages)', user, dest, out.purged);
      return sendJson(res, 200, out);
    }
    default:
      throw notFound(`no API at ${r.path}`);
  }
}

/** A method this path does not take is 405 with the ones it does. */
function allow(r: Req, ...methods: string[]): void {
  const ok = new Set(methods);
  if (ok.has('GET')) ok.add('HEAD');
  if (!ok.has(r.method)) throw new MethodNotAllowed([...ok].join(', '), `${r.method} is not allowed on ${r.path}; use ${methods.join(' or ')}`);
}

export class MethodNotAllowed extends Error {
  constructor(
    readonly allow: string,
    message: string,
  ) {
    super(message);
  }
}

const ENDPOINTS = [
  'GET /api/broker',
  'GET /api/queues',
  'POST /api/queues {name}',
  'GET /api/queues/{name}',
  'DELETE /api/queues/{name}',
  'GET /api/queues/{name}/rates',
  'GET /api/queues/{name}/messages?max=100',
  'POST /api/queues/{name}/messages {body, headers?, persistent?, priority?, ttl?, count?}',
  'POST /api/queues/{name}/purge',
  'GET /api/topics',
  'POST /api/topics {name}',
  'GET /api/topics/{name}',
  'DELETE /api/topics/{name}',
  'POST /api/topics/{name}/messages {body, ...}',
  'GET /api/subscribers',
  'GET /api/connections',
  'GET /api/network',
  'GET /api/rates',
  'GET /api/events (server-sent events: stats every second, change on broker events)',
  'GET /api/whoami',
  'GET /metrics',
];
