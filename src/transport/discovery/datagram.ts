/**
 * ActiveMQ's multicast discovery datagram, pure: `<group>.ActiveMQ-4.alive.%localhost%<serviceURI>` while a broker
 * serves, `….dead.…` once as it stops. The `%…%` field is literally `localhost` in what ActiveMQ sends; we send the
 * same so a real ActiveMQ on the group reads us, and accept any name there.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { type EndpointUri, parseEndpointUri, uriErrorReason } from '../uri.js';

/** ActiveMQ's type suffix after the group name: `<group>.ActiveMQ-4.`. */
export const DISCOVERY_TYPE = '.ActiveMQ-4.';
/** The broker-name field ActiveMQ puts in every advertisement. */
const BROKER_FIELD = 'localhost';
/**
 * Longest datagram read. ActiveMQ's buffer is 8 KiB; a service URI with a few options is well under 1 KiB, and
 * anything longer is more likely noise than a broker.
 */
export const MAX_DATAGRAM_BYTES = 4096;

/** One understood advertisement. */
export interface Advertisement {
  group: string;
  alive: boolean;
  /** The `%…%` field (ActiveMQ: `localhost`). */
  brokerName: string;
  /** The service URI as advertised. */
  uri: string;
  endpoint: EndpointUri;
}

/** Parse result: an advertisement, or why the bytes are not one. */
export type ParseResult = { ok: true; ad: Advertisement } | { ok: false; reason: string };

/** The datagram advertising `uri` (alive) or withdrawing it (dead) on `group`. */
export function formatAdvertisement(group: string, alive: boolean, uri: string): Buffer {
  return Buffer.from(`${group}${DISCOVERY_TYPE}${alive ? 'alive' : 'dead'}.%${BROKER_FIELD}%${uri}`, 'latin1');
}

const DATAGRAM = /^([A-Za-z0-9._-]+)\.ActiveMQ-4\.(alive|dead)\.%([^%]{0,255})%(.+)$/;

/**
 * Parse one received datagram, strictly: printable ASCII only, ActiveMQ's layout, and a service URI a peer could
 * dial (tcp:// or stomp://, a real host and port: never 0.0.0.0 nor port 0). Whatever the network sends, this
 * returns; it never throws.
 */
export function parseAdvertisement(buf: Buffer): ParseResult {
  if (buf.length === 0) return { ok: false, reason: 'empty datagram' };
  if (buf.length > MAX_DATAGRAM_BYTES) return { ok: false, reason: `datagram of ${buf.length} bytes (limit ${MAX_DATAGRAM_BYTES})` };
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c < 0x21 || c > 0x7e) return { ok: false, reason: `byte 0x${c.toString(16).padStart(2, '0')} at offset ${i} (expected printable ASCII)` };
  }
  const text = buf.toString('latin1');
  const m = DATAGRAM.exec(text);
  if (m === null) return { ok: false, reason: `not <group>.ActiveMQ-4.alive|dead.%name%<uri>: ${JSON.stringify(text.slice(0, 120))}` };
  const uri = m[4]!;
  let endpoint: EndpointUri;
  try {
    endpoint = parseEndpointUri(uri);
  } catch (err) {
    return { ok: false, reason: `service URI: ${uriErrorReason(err)}` };
  }
  if (endpoint.port === 0) return { ok: false, reason: `service URI ${uri} has port 0` };
  if (isUnspecified(endpoint.host)) return { ok: false, reason: `service URI ${uri} names no host a peer can dial` };
  return { ok: true, ad: { group: m[1]!, alive: m[2] === 'alive', brokerName: m[3]!, uri, endpoint } };
}

/** 0.0.0.0 or :: (a listen address, not one to dial). */
export function isUnspecified(host: string): boolean {
  return (isIPv4(host) && host === '0.0.0.0') || (isIPv6(host) && /^[0:]+$/.test(host));
}
