import { FerryError } from '../errors.js';

export type DestinationKind = 'queue' | 'topic';

export interface DestinationName {
  kind: DestinationKind;
  name: string;
  /** `queue://NAME` or `topic://NAME`: the key everything else uses. */
  canonical: string;
}

const PREFIXES: ReadonlyArray<[string, DestinationKind]> = [
  ['queue://', 'queue'],
  ['topic://', 'topic'],
  ['/queue/', 'queue'],
  ['/topic/', 'topic'],
];

const cache = new Map<string, DestinationName>();

/**
 * Parse `queue://NAME`, `topic://NAME` (also STOMP's `/queue/NAME`, `/topic/NAME`); a bare name is a queue, as
 * in ActiveMQ's tools. Names are 1–1024 characters without NUL or control characters.
 * @throws FerryError FERRY_INVALID_DESTINATION
 */
export function parseDestination(raw: string): DestinationName {
  const hit = cache.get(raw);
  if (hit) return hit;
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
  const d: DestinationName = { kind, name, canonical: `${kind}://${name}` };
  if (cache.size < 10_000) cache.set(raw, d);
  return d;
}
