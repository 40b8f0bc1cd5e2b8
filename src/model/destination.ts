import { FerryError } from '../errors.js';

export type DestinationKind = 'queue' | 'topic';

/** Prefix of temporary queues: they live as long as the connection that created them. */
export const TEMP_QUEUE_PREFIX = 'temp-queue://';

export interface DestinationName {
  kind: DestinationKind;
  name: string;
  /** `queue://NAME`, `topic://NAME` or `temp-queue://NAME`: the key everything else uses. */
  canonical: string;
  temporary: boolean;
}

const PREFIXES: ReadonlyArray<[string, DestinationKind]> = [
  ['queue://', 'queue'],
  ['topic://', 'topic'],
  ['/queue/', 'queue'],
  ['/topic/', 'topic'],
];

const cache = new Map<string, DestinationName>();
let lastRaw = '';
let lastParsed: DestinationName | null = null;

/**
 * Parse `queue://NAME`, `topic://NAME`, `temp-queue://NAME` (also STOMP's `/queue/NAME`, `/topic/NAME`); a bare name is a queue, as
 * in ActiveMQ's tools. Names are 1–1024 characters without NUL or control characters.
 * @throws FerryError FERRY_INVALID_DESTINATION
 */
export function parseDestination(raw: string): DestinationName {
  // A producer names the same destination send after send (often as the very same string): asked three or four
  // times per message (flow control, routing), the last answer saves the Map lookup.
  if (raw === lastRaw && lastParsed !== null) return lastParsed;
  const hit = cache.get(raw);
  if (hit) {
    lastRaw = raw;
    lastParsed = hit;
    return hit;
  }
  let kind: DestinationKind = 'queue';
  let name = raw;
  for (const [prefix, k] of PREFIXES) {
    if (raw.startsWith(prefix)) {
      kind = k;
      name = raw.slice(prefix.length);
      break;
    }
  }
  if (name.length === 0 || name.length > 1024) {
    throw new FerryError('FERRY_INVALID_DESTINATION', `destination ${JSON.stringify(raw)} needs a name of 1 to 1024 characters`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) {
    throw new FerryError('FERRY_INVALID_DESTINATION', `destination ${JSON.stringify(raw)} contains a control character`);
  }
  if (raw.startsWith(TEMP_QUEUE_PREFIX)) {
    kind = 'queue';
    name = raw.slice(TEMP_QUEUE_PREFIX.length);
  }
  const canonical = raw.startsWith(TEMP_QUEUE_PREFIX) ? raw : `${kind}://${name}`;
  const d: DestinationName = { kind, name, canonical, temporary: raw.startsWith(TEMP_QUEUE_PREFIX) };
  if (cache.size < 10_000) cache.set(raw, d);
  return d;
}

/** True when a name uses `*` (one element) or `>` (the rest) as an element. */
export function isWildcard(name: string): boolean {
  return name.split('.').some((e) => e === '*' || e === '>');
}

/**
 * ActiveMQ's destination wildcards: `.` separates elements, `*` matches one element, `>` matches the rest
 * (one or more elements). `PRICE.>` matches `PRICE.STOCK.NYSE`; `PRICE.*.NYSE` matches `PRICE.STOCK.NYSE`.
 */
export function wildcardMatch(pattern: string, name: string): boolean {
  const p = pattern.split('.');
  const n = name.split('.');
  for (let i = 0; i < p.length; i++) {
    const e = p[i]!;
    if (e === '>') return n.length > i;
    if (i >= n.length) return false;
    if (e !== '*' && e !== n[i]) return false;
  }
  return p.length === n.length;
}

/**
 * A consumer's destination with ActiveMQ's destination options: `queue://ORDERS?consumer.priority=5`. Only
 * consumer.priority (0–127 in ActiveMQ; any integer here) is read; another option is an error naming it.
 * @throws FerryError FERRY_INVALID_DESTINATION
 */
export function parseConsumerDestination(raw: string): { dest: string; priority: number | undefined } {
  const q = raw.indexOf('?');
  if (q < 0) return { dest: raw, priority: undefined };
  let priority: number | undefined;
  for (const pair of raw.slice(q + 1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    if (key !== 'consumer.priority') {
      throw new FerryError('FERRY_INVALID_DESTINATION', `destination option ${JSON.stringify(key)} in ${JSON.stringify(raw)} is not supported (consumer.priority is)`);
    }
    if (!/^-?\d{1,4}$/.test(value)) {
      throw new FerryError('FERRY_INVALID_DESTINATION', `consumer.priority must be an integer, got ${JSON.stringify(value)} in ${JSON.stringify(raw)}`);
    }
    priority = Number(value);
  }
  return { dest: raw.slice(0, q), priority };
}
