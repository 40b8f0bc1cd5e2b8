import { unpack } from 'msgpackr';
import type { Broker } from '../broker/broker.js';
import type { Session } from '../broker/session.js';
import type { DeliverySink } from '../broker/subscription.js';
import { FerryError } from '../errors.js';
import { type DestinationKind, isWildcard, parseDestination } from '../model/destination.js';
import type { BrokerMessage } from '../model/message.js';
import { BodyType, type Headers } from '../protocol/commands.js';
import { badRequest, notFound } from './http.js';

/** Messages one browse returns at most. */
export const MAX_BROWSE = 1000;
/** Copies one console send may ask for (a quick way to fill a queue by hand, not a load generator). */
export const MAX_SEND_COUNT = 1000;
/** Characters of a body the browse view shows. */
const PREVIEW_CHARS = 500;

/** The console's sessions never consume, so nothing is ever delivered to them. */
const NO_SINK: DeliverySink = { deliver: () => {} };

export interface BrowsedView {
  id: string;
  priority: number;
  persistent: boolean;
  timestamp: number;
  expires: number;
  deliveryCount: number;
  headers: Headers;
  correlationId: string | null;
  replyTo: string | null;
  bodyType: 'text' | 'bytes' | 'value';
  bodyBytes: number;
  /** The body's start: text as it is, a value as JSON, bytes as hex. */
  preview: string;
  truncated: boolean;
}

/**
 * What the console's actions do to the broker: browse, send, purge, delete, create. Every argument is checked
 * here and a bad one throws FERRY_BAD_REQUEST naming it; a destination that does not exist is FERRY_NOT_FOUND.
 * Each action runs on a short-lived session of the console's user, so the broker's authorize hook and producer
 * flow control see it like any client.
 */
export class ConsoleActions {
  constructor(private readonly broker: Broker) {}

  /** `kind://name`, checked. */
  dest(kind: DestinationKind, name: string): string {
    if (name.length === 0) throw badRequest(`${kind} name is empty`);
    if (name.includes('://')) throw badRequest(`${kind} name ${JSON.stringify(name)} must not carry a prefix such as queue://`);
    const d = parseDestination(`${kind}://${name}`);
    return d.canonical;
  }

  /** As `user` when the request logged in (the broker's authorization may refuse anonymous browsing), else anonymous. */
  browse(name: string, maxRaw: string | null, user: string | null = null): BrowsedView[] {
    const max = maxRaw === null ? 100 : intParam('max', maxRaw, 1, MAX_BROWSE);
    const dest = this.existing('queue', name).canonical;
    try {
      return this.withSession(user, (s) => s.browse(dest, max)).map(view);
    } catch (err) {
      if (user !== null || (err as FerryError).code !== 'FERRY_NOT_AUTHORIZED') throw err;
      throw new FerryError('FERRY_UNAUTHORIZED', `browsing ${dest} needs a login: the broker does not let anonymous users read it`);
    }
  }

  /** Send `count` copies of a text message; resolves once the broker has them all (on disk when persistent). */
  async send(user: string, kind: DestinationKind, name: string, input: Record<string, unknown>): Promise<{ sent: number; dest: string }> {
    const dest = this.dest(kind, name);
    if (kind === 'topic' && isWildcard(name)) throw badRequest(`cannot send to a wildcard topic: ${dest}`);
    const body = input['body'];
    if (typeof body !== 'string') throw badRequest('body must be a string (the message text)');
    const persistent = optBool(input, 'persistent', true);
    const priority = optInt(input, 'priority', 4, 0, 9);
    const ttl = optInt(input, 'ttl', 0, 0, 2 ** 31 - 1);
    const count = optInt(input, 'count', 1, 1, MAX_SEND_COUNT);
    const headers = optHeaders(input['headers']);
    this.requireRunning();
    if (this.broker.mustHold(dest, persistent)) {
      // Flow control would hold this send; a web request should not hang on it.
      throw new FerryError('FERRY_RESOURCE_EXHAUSTED', `${dest} is full (memory limit reached): flow control holds sends; try again when consumers catch up`);
    }
    const bytes = new TextEncoder().encode(body);
    await this.withSession(user, (session) =>
      Promise.all(
        Array.from({ length: count }, () =>
          new Promise<void>((resolve, reject) => {
            const s = { dest, body: bytes, bt: BodyType.Text, persistent, priority, ttl: ttl > 0 ? ttl : undefined, headers };
            session.send(s, (err) => (err ? reject(err) : resolve()));
          }),
        ),
      ),
    );
    return { sent: count, dest };
  }

  async purge(user: string, name: string): Promise<{ purged: number }> {
    this.requireRunning();
    const dest = this.existing('queue', name).canonical;
    return { purged: await this.withSession(user, (s) => s.purge(dest)) };
  }

  async delete(user: string, kind: DestinationKind, name: string): Promise<{ deleted: string; messages: number }> {
    this.requireRunning();
    const dest = this.existing(kind, name).canonical;
    return { deleted: dest, messages: await this.withSession(user, (s) => s.deleteDestination(dest)) };
  }

  /** @returns created false when it existed already. */
  create(kind: DestinationKind, name: string): { created: boolean; dest: string } {
    const dest = this.dest(kind, name);
    if (isWildcard(name)) throw badRequest(`a ${kind} name cannot be a wildcard: ${JSON.stringify(name)}`);
    this.requireRunning();
    const existed = this.broker.findDestination(dest) !== undefined;
    this.broker.destination(dest);
    return { created: !existed, dest };
  }

  /** Run `fn` on a session of `user` (null: an anonymous read), closed afterwards whatever happens. */
  private withSession<T>(user: string | null, fn: (s: Session) => T): T {
    const session = this.broker.createSession({ remote: 'web console', protocol: 'console', sink: NO_SINK }, { user });
    let result: T;
    try {
      result = fn(session);
    } catch (err) {
      session.close();
      throw err;
    }
    if (result instanceof Promise) return result.finally(() => session.close()) as T;
    session.close();
    return result;
  }

  private existing(kind: DestinationKind, name: string): NonNullable<ReturnType<Broker['findDestination']>> {
    const dest = this.dest(kind, name);
    const d = this.broker.findDestination(dest);
    if (d === undefined) throw notFound(`no ${kind} ${JSON.stringify(name)} on broker ${this.broker.name}`);
    return d;
  }

  private requireRunning(): void {
    if (!this.broker.running) throw new FerryError('FERRY_BROKER_STOPPING', `broker ${this.broker.name} is not running (starting, stopping, or a slave waiting for the lock)`);
  }
}

function view(m: BrokerMessage): BrowsedView {
  let preview: string;
  let bodyType: BrowsedView['bodyType'];
  if (m.bt === BodyType.Text) {
    bodyType = 'text';
    preview = Buffer.from(m.body.buffer, m.body.byteOffset, Math.min(m.body.byteLength, PREVIEW_CHARS * 4)).toString('utf8');
  } else if (m.bt === BodyType.Value) {
    bodyType = 'value';
    try {
      preview = JSON.stringify(unpack(m.body)) ?? 'undefined';
    } catch {
      preview = '(a value this console cannot decode)';
    }
  } else {
    bodyType = 'bytes';
    preview = Buffer.from(m.body.buffer, m.body.byteOffset, Math.min(m.body.byteLength, PREVIEW_CHARS / 2)).toString('hex');
  }
  const truncated = preview.length > PREVIEW_CHARS || (bodyType === 'bytes' && m.body.byteLength > PREVIEW_CHARS / 2);
  return {
    id: m.id,
    priority: m.priority,
    persistent: m.persistent,
    timestamp: m.timestamp,
    expires: m.expires,
    deliveryCount: m.deliveryCount,
    headers: m.headers ?? {},
    correlationId: m.correlationId ?? null,
    replyTo: m.replyTo ?? null,
    bodyType,
    bodyBytes: m.body.byteLength,
    preview: preview.length > PREVIEW_CHARS ? preview.slice(0, PREVIEW_CHARS) : preview,
    truncated,
  };
}

export function intParam(name: string, raw: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(raw.trim())) throw badRequest(`${name} must be an integer ${min}..${max}, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw badRequest(`${name} must be an integer ${min}..${max}, got ${raw}`);
  return n;
}

function optInt(o: Record<string, unknown>, key: string, def: number, min: number, max: number): number {
  const v = o[key];
  if (v === undefined || v === null || v === '') return def;
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw badRequest(`${key} must be an integer ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

function optBool(o: Record<string, unknown>, key: string, def: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw badRequest(`${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function optHeaders(v: unknown): Headers | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('headers must be an object of name: value');
  const out: Headers = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (k === '') throw badRequest('a header name is empty');
    if (x !== null && typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') {
      throw badRequest(`header ${JSON.stringify(k)} must be a string, number, boolean or null`);
    }
    out[k] = x as Headers[string];
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
