/**
 * STOMP frames ⇄ the broker's messages: destinations, body types and headers (ActiveMQ's STOMP conventions).
 */
import type { SendInput } from '../../model/message.js';
import type { BrokerMessage } from '../../model/message.js';
import { BodyType, type Headers } from '../../protocol/commands.js';
import { encodeFrame } from './encoder.js';
import type { StompFrame, StompVersion } from './parser.js';

/** A problem with one frame: answered with an ERROR frame whose `message` header is this message. */
export class StompError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StompError';
  }
}

/** STOMP destination prefixes and the broker's canonical prefixes they stand for. */
const PREFIXES: readonly (readonly [string, string])[] = [
  ['/queue/', 'queue://'],
  ['/topic/', 'topic://'],
  ['/temp-queue/', 'temp-queue://'],
];

/** Body type of an `application/x-msgpack` body: a msgpack value, as the native client sends and decodes it. */
export const MSGPACK_CONTENT_TYPE = 'application/x-msgpack';
/** Content type of a text body on MESSAGE frames. */
export const TEXT_CONTENT_TYPE = 'text/plain;charset=utf-8';

/**
 * `/queue/X` → `queue://X`, `/topic/X` → `topic://X`, `/temp-queue/X` → `temp-queue://X`.
 * @throws StompError for anything else
 */
export function brokerDestination(raw: string, header = 'destination'): string {
  for (const [stomp, canonical] of PREFIXES) {
    if (raw.startsWith(stomp) && raw.length > stomp.length) return canonical + raw.slice(stomp.length);
  }
  if (raw.startsWith('/temp-topic/')) throw new StompError(`${header} ${JSON.stringify(raw)}: temporary topics are not supported`);
  throw new StompError(`${header} ${JSON.stringify(raw.slice(0, 200))} is not a destination: expected /queue/NAME, /topic/NAME or /temp-queue/NAME`);
}

/** `queue://X` → `/queue/X` and so on; anything else is returned as it is. */
export function stompDestination(canonical: string): string {
  for (const [stomp, prefix] of PREFIXES) if (canonical.startsWith(prefix)) return stomp + canonical.slice(prefix.length);
  return canonical;
}

/** reply-to is only carried, never routed here: a STOMP name is translated when it is one, else kept as it is. */
function replyToBroker(raw: string): string {
  for (const [stomp, canonical] of PREFIXES) if (raw.startsWith(stomp) && raw.length > stomp.length) return canonical + raw.slice(stomp.length);
  return raw;
}

/** SEND headers the broker interprets; they do not become message headers. */
const SEND_CONSUMED = new Set([
  'destination',
  'content-length',
  'content-type',
  'receipt',
  'transaction',
  'persistent',
  'expires',
  'priority',
  'reply-to',
  'correlation-id',
  'amq-msg-type',
  // Set by the broker on MESSAGE frames: a client that resends a received frame's headers does not set them.
  'message-id',
  'subscription',
  'ack',
  'redelivered',
  'timestamp',
]);

/** Longest message header name (as the native protocol's). */
const MAX_HEADER_NAME = 1024;

/**
 * The body type of a SEND: `amq-msg-type: text|bytes` decides when given (ActiveMQ); else `text/*` (UTF-8, or no
 * charset) is text, `application/x-msgpack` a msgpack value, any other content-type bytes; with no content-type, a
 * frame with `content-length` is bytes and one without is text.
 */
export function bodyTypeOf(contentType: string | undefined, hasLength: boolean, amqType: string | undefined): BodyType {
  if (amqType === 'text') return BodyType.Text;
  if (amqType === 'bytes') return BodyType.Bytes;
  if (amqType !== undefined) throw new StompError(`amq-msg-type ${JSON.stringify(amqType.slice(0, 40))}: expected text or bytes`);
  if (contentType === undefined) return hasLength ? BodyType.Bytes : BodyType.Text;
  const [mime = '', ...params] = contentType.split(';').map((s) => s.trim().toLowerCase());
  if (mime === MSGPACK_CONTENT_TYPE) return BodyType.Value;
  if (!mime.startsWith('text/')) return BodyType.Bytes;
  const charset = params.find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  return charset === undefined || charset === 'utf-8' || charset === 'utf8' ? BodyType.Text : BodyType.Bytes;
}

/** The content-type a body type implies: one that says no more than that is not kept as a message header. */
function impliedBy(contentType: string, bt: BodyType): boolean {
  const mime = contentType.split(';')[0]!.trim().toLowerCase();
  if (bt === BodyType.Text) return mime === 'text/plain';
  if (bt === BodyType.Value) return mime === MSGPACK_CONTENT_TYPE;
  return mime === 'application/octet-stream';
}

function intHeader(f: StompFrame, name: string, min: number, max: number): number | undefined {
  const v = f.headers.get(name);
  if (v === undefined) return undefined;
  const t = v.trim();
  const n = /^-?\d{1,16}$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new StompError(`${f.command}: invalid ${name} ${JSON.stringify(v.slice(0, 40))}: expected an integer ${min}..${max}`);
  }
  return n;
}

/** A header the frame must carry. @throws StompError naming it */
export function required(f: StompFrame, name: string): string {
  const v = f.headers.get(name);
  if (v === undefined) throw new StompError(`${f.command} frame has no ${name} header`);
  return v;
}

/** A SEND frame as the broker's send input, with its transaction. @throws StompError on a bad header */
export function sendInput(f: StompFrame, now: number): { input: SendInput; tx: string | undefined } {
  const dest = brokerDestination(required(f, 'destination'));
  const contentType = f.headers.get('content-type');
  const bt = bodyTypeOf(contentType, f.headers.has('content-length'), f.headers.get('amq-msg-type'));
  const expires = intHeader(f, 'expires', 0, Number.MAX_SAFE_INTEGER);
  const headers: Headers = {};
  let n = 0;
  for (const [k, v] of f.headers) {
    if (SEND_CONSUMED.has(k)) continue;
    if (k.length > MAX_HEADER_NAME) throw new StompError(`SEND: header name longer than ${MAX_HEADER_NAME} characters`);
    // A plain assignment to "__proto__" would be dropped (or worse): define it as an own property.
    Object.defineProperty(headers, k, { value: v, enumerable: true, writable: true, configurable: true });
    n++;
  }
  if (contentType !== undefined && !impliedBy(contentType, bt)) {
    headers['content-type'] = contentType;
    n++;
  }
  const input: SendInput = {
    dest,
    body: f.body,
    bt,
    persistent: f.headers.get('persistent') === 'true',
    headers: n > 0 ? headers : undefined,
    priority: intHeader(f, 'priority', 0, 9),
    // expires is absolute (JMSExpiration); one already past still expires (1 ms), rather than never.
    ttl: expires === undefined || expires === 0 ? undefined : Math.max(1, expires - now),
    correlationId: f.headers.get('correlation-id'),
    replyTo: f.headers.has('reply-to') ? replyToBroker(f.headers.get('reply-to')!) : undefined,
  };
  return { input, tx: f.headers.get('transaction') };
}

/**
 * The MESSAGE frame of one delivery. Broker headers first (a parser keeps the first of a repeated name, so a message
 * header cannot shadow them), then the message's own headers as strings (null ones are left out). `ackId` is set
 * when the subscription needs acknowledgement and the connection speaks 1.2.
 */
export function messageFrame(subscription: string, m: BrokerMessage, ackId: string | undefined, version: StompVersion): Buffer {
  const h: [string, string][] = [
    ['subscription', subscription],
    ['message-id', m.id],
    ['destination', stompDestination(m.dest)],
  ];
  if (ackId !== undefined) h.push(['ack', ackId]);
  const own = m.headers;
  const ct = own?.['content-type'];
  if (typeof ct === 'string') h.push(['content-type', ct]);
  else if (m.bt === BodyType.Text) h.push(['content-type', TEXT_CONTENT_TYPE]);
  else if (m.bt === BodyType.Value) h.push(['content-type', MSGPACK_CONTENT_TYPE]);
  if (m.persistent) h.push(['persistent', 'true']);
  h.push(['priority', String(m.priority)], ['timestamp', String(m.timestamp)], ['expires', String(m.expires)]);
  if (m.deliveryCount > 1) h.push(['redelivered', 'true']);
  if (m.correlationId !== undefined) h.push(['correlation-id', m.correlationId]);
  if (m.replyTo !== undefined) h.push(['reply-to', stompDestination(m.replyTo)]);
  if (own !== undefined) {
    for (const k in own) {
      const v = own[k];
      if (v === null || v === undefined || k === 'content-type' || k === 'content-length') continue;
      h.push([k, typeof v === 'string' ? v : String(v)]);
    }
  }
  return encodeFrame('MESSAGE', h, m.body, version);
}
