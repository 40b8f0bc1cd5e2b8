/**
 * Parsing of the URIs ActiveMQ Classic users already write: transport connectors (`tcp://host:port?opts`),
 * client connect URLs (`failover:(uri,…)?opts`) and network connectors (`static:(uri,…)`, `multicast://default`).
 * Parsed by hand rather than with WHATWG `URL`, which only says "Invalid URL" and would leave the user guessing.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidUriError } from '../errors.js';

/** Port of the default OpenWire connector in ActiveMQ, used when a list entry omits the port. */
export const DEFAULT_PORT = 61616;
/** `wireFormat.maxFrameSize` of ActiveMQ's shipped activemq.xml (100 MiB); its source default is unlimited. */
export const DEFAULT_MAX_FRAME_SIZE_BYTES = 104857600;
/** `wireFormat.maxInactivityDuration`: keep-alive window, as in ActiveMQ. */
export const DEFAULT_MAX_INACTIVITY_DURATION_MS = 30000;
/** `maximumConnections` of ActiveMQ's shipped activemq.xml; its source default is unlimited. */
export const DEFAULT_MAXIMUM_CONNECTIONS = 1000;

/** Largest timer delay Node accepts (setTimeout overflows to 1 ms above it), so durations are capped here. */
const MAX_DURATION_MS = 2147483647;
const MAX_INT32 = 2147483647;

/** One `scheme://host:port?query` endpoint. */
export interface EndpointUri {
  /** `ssl`: ferrymq's native protocol over TLS. */
  scheme: 'tcp' | 'stomp' | 'ssl';
  /** Host name, IPv4 address, or IPv6 address without the brackets (ready for `net.connect`/`listen`). */
  host: string;
  port: number;
  /** Query options, keys and values URL-decoded. */
  options: Readonly<Record<string, string>>;
  /** The URI exactly as given. */
  raw: string;
}

/** Throw an InvalidUriError quoting the URI. `reason` is kept on the error so config errors can reuse it. */
function fail(uri: string, reason: string): never {
  const err = new InvalidUriError(`invalid URI ${JSON.stringify(uri)}: ${reason}`);
  Object.defineProperty(err, 'reason', { value: reason, enumerable: false });
  throw err;
}

/** The "what is wrong" part of an error from this module (without the quoted URI); other errors: their message. */
export function uriErrorReason(err: unknown): string {
  if (err instanceof Error) return (err as Error & { reason?: string }).reason ?? err.message;
  return String(err);
}

/** Strict decimal integer: "1e3", "0x10", "1.0" and "" are rejected rather than silently coerced. */
function parseIntStrict(s: string, min: number, max: number): number | undefined {
  if (!/^-?\d{1,16}$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/** Decode one query component the way ActiveMQ's URLDecoder does ('+' is a space). */
function decode(uri: string, s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return fail(uri, `bad percent-encoding in ${JSON.stringify(s)}`);
  }
}

/** Parse `k=v&k2=v2` into a frozen record. Empty segments (`a=1&&b=2`, trailing `&`) are skipped. */
function parseQuery(uri: string, query: string | null): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  if (query !== null) {
    for (const part of query.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      if (eq < 0) fail(uri, `option ${JSON.stringify(part)} has no value (expected name=value)`);
      const key = decode(uri, part.slice(0, eq));
      if (key === '') fail(uri, `option with an empty name in ${JSON.stringify(part)}`);
      if (Object.hasOwn(out, key)) fail(uri, `option "${key}" is given twice`);
      out[key] = decode(uri, part.slice(eq + 1));
    }
  }
  return Object.freeze(out);
}

const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/**
 * Parse `tcp://host:port?k=v&...` or `stomp://...`. Host may be a name, IPv4 address or `[IPv6]`; a trailing `/` is
 * allowed. The port (0..65535) is required unless `defaultPort` is given. Option values are URL-decoded.
 * @throws InvalidUriError quoting the URI and saying what is wrong
 */
export function parseEndpointUri(uri: string, defaultPort?: number): EndpointUri {
  if (typeof uri !== 'string') return fail(String(uri), 'a URI must be a string');
  const s = uri.trim();
  if (s === '') fail(uri, 'the URI is empty');
  if (/\s/.test(s)) fail(uri, 'the URI contains whitespace');
  const sm = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(s);
  if (!sm) fail(uri, 'missing scheme (expected e.g. tcp://127.0.0.1:61616)');
  const scheme = sm[1]!.toLowerCase();
  if (scheme !== 'tcp' && scheme !== 'stomp' && scheme !== 'ssl') fail(uri, `unsupported scheme "${sm[1]}" (expected tcp, ssl or stomp)`);
  let rest = s.slice(sm[0].length);
  if (!rest.startsWith('//')) fail(uri, `expected "//" after "${sm[0]}"`);
  rest = rest.slice(2);
  if (rest.includes('#')) fail(uri, 'a fragment (#...) is not allowed');
  const q = rest.indexOf('?');
  const query = q < 0 ? null : rest.slice(q + 1);
  let authority = q < 0 ? rest : rest.slice(0, q);
  const slash = authority.indexOf('/');
  if (slash >= 0) {
    const path = authority.slice(slash);
    if (path !== '/') fail(uri, `unexpected path "${path}" (expected ${scheme}://host:port)`);
    authority = authority.slice(0, slash);
  }
  if (authority.includes('@')) fail(uri, 'user info (user@host) is not supported');

  let host: string;
  let portStr: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) fail(uri, 'missing "]" after the IPv6 address');
    host = authority.slice(1, close);
    if (!isIPv6(host)) fail(uri, `"${host}" is not an IPv6 address`);
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) fail(uri, `unexpected "${after}" after "]" (expected :port)`);
    portStr = after === '' ? undefined : after.slice(1);
  } else {
    const parts = authority.split(':');
    if (parts.length > 2) fail(uri, 'an IPv6 address must be in brackets, e.g. tcp://[::1]:61616');
    host = parts[0]!;
    portStr = parts[1];
    if (host === '') fail(uri, 'the host is missing');
    if (/^[\d.]+$/.test(host)) {
      if (!isIPv4(host)) fail(uri, `"${host}" is not a valid IPv4 address`);
    } else if (host.length > 253 || !HOST_NAME.test(host)) {
      fail(uri, `"${host}" is not a valid host name`);
    }
  }

  let port: number;
  if (portStr === undefined) {
    if (defaultPort === undefined) fail(uri, `the port is missing (expected ${scheme}://${authority}:<port>)`);
    port = defaultPort;
  } else if (portStr === '') {
    return fail(uri, 'the port is missing after ":"');
  } else if (!/^\d+$/.test(portStr)) {
    return fail(uri, `port must be a number 0..65535, got "${portStr}"`);
  } else {
    const p = parseIntStrict(portStr, 0, 65535);
    if (p === undefined) fail(uri, 'port must be 0..65535');
    port = p;
  }
  return Object.freeze({ scheme, host, port, options: parseQuery(uri, query), raw: uri });
}

/** Limits of one transport connector, from its URI options. */
export interface ConnectorOptions {
  /** Sockets beyond this are refused. @default 1000 */
  maximumConnections: number;
  /** Largest frame accepted, in bytes. @default 104857600 */
  maxFrameSize: number;
  /** Idle time before a silent peer is closed, in ms; 0 disables. @default 30000 */
  maxInactivityDurationMs: number;
}

type IntRule = { key: keyof ConnectorOptions; min: number; max: number; want: string };
const CONNECTOR_OPTIONS: Record<string, IntRule> = {
  maximumConnections: { key: 'maximumConnections', min: 1, max: MAX_INT32, want: 'an integer >= 1' },
  // 1 KiB floor: a smaller limit could not even carry a CONNECT frame with its headers.
  'wireFormat.maxFrameSize': { key: 'maxFrameSize', min: 1024, max: 4294967295, want: 'an integer 1024..4294967295' },
  'wireFormat.maxInactivityDuration': {
    key: 'maxInactivityDurationMs',
    min: 0,
    max: MAX_DURATION_MS,
    want: `an integer number of ms 0..${MAX_DURATION_MS} (0 disables)`,
  },
};

/**
 * Validate a transportConnector URI's options: `maximumConnections`, `wireFormat.maxFrameSize`,
 * `wireFormat.maxInactivityDuration`. Options not given take the DEFAULT_* constants.
 * @throws InvalidUriError on an unknown option (listing the valid ones) or a bad value
 */
export function connectorOptions(u: EndpointUri): ConnectorOptions {
  const out: ConnectorOptions = {
    maximumConnections: DEFAULT_MAXIMUM_CONNECTIONS,
    maxFrameSize: DEFAULT_MAX_FRAME_SIZE_BYTES,
    maxInactivityDurationMs: DEFAULT_MAX_INACTIVITY_DURATION_MS,
  };
  for (const [name, value] of Object.entries(u.options)) {
    const rule = CONNECTOR_OPTIONS[name];
    if (!rule) {
      fail(u.raw, `unknown option "${name}" (valid: ${Object.keys(CONNECTOR_OPTIONS).join(', ')})`);
    }
    const n = parseIntStrict(value, rule.min, rule.max);
    if (n === undefined) fail(u.raw, `option ${name} must be ${rule.want}, got "${value}"`);
    out[rule.key] = n;
  }
  return Object.freeze(out);
}

/** Reconnect behaviour of a client, in ActiveMQ's failover vocabulary. */
export interface FailoverOptions {
  /** Shuffle the URI list on each pass. @default true */
  randomize: boolean;
  /** First wait before reconnecting, ms (`initialReconnectDelay`). @default 10 */
  initialReconnectDelayMs: number;
  /** Cap on the wait, ms (`maxReconnectDelay`). @default 30000 */
  maxReconnectDelayMs: number;
  /** Multiply the wait after each failed pass. @default true */
  useExponentialBackOff: boolean;
  /** Factor of the back-off (alias `reconnectDelayExponent`). @default 2 */
  backOffMultiplier: number;
  /** Passes before giving up once connected: -1 forever, 0 never reconnect. @default -1 */
  maxReconnectAttempts: number;
  /** Same, before the first successful connect. @default -1 */
  startupMaxReconnectAttempts: number;
  /** A send while disconnected waits at most this many ms, then fails; -1 waits forever. @default -1 */
  timeoutMs: number;
  /** Prefer the first URI and move back to it when it returns. @default false */
  priorityBackup: boolean;
}

/** ActiveMQ's failover defaults. */
export const DEFAULT_FAILOVER_OPTIONS: Readonly<FailoverOptions> = Object.freeze({
  randomize: true,
  initialReconnectDelayMs: 10,
  maxReconnectDelayMs: 30000,
  useExponentialBackOff: true,
  backOffMultiplier: 2,
  maxReconnectAttempts: -1,
  startupMaxReconnectAttempts: -1,
  timeoutMs: -1,
  priorityBackup: false,
});

/** A parsed client connect URL. */
export interface ClientUri {
  failover: boolean;
  /** Empty for `discovery:(…)`, whose brokers are learnt as they advertise. */
  endpoints: EndpointUri[];
  options: FailoverOptions;
  /** `discovery:(multicast://…)`: the group whose advertised brokers are the failover list. */
  discovery?: MulticastOptions;
}

type FailoverRule = { key: keyof FailoverOptions; kind: 'bool' | 'int' | 'number'; min: number; max: number };
const FAILOVER_RULES: Record<string, FailoverRule> = {
  randomize: { key: 'randomize', kind: 'bool', min: 0, max: 0 },
  initialReconnectDelay: { key: 'initialReconnectDelayMs', kind: 'int', min: 0, max: MAX_DURATION_MS },
  maxReconnectDelay: { key: 'maxReconnectDelayMs', kind: 'int', min: 0, max: MAX_DURATION_MS },
  useExponentialBackOff: { key: 'useExponentialBackOff', kind: 'bool', min: 0, max: 0 },
  backOffMultiplier: { key: 'backOffMultiplier', kind: 'number', min: 1, max: 1000 },
  reconnectDelayExponent: { key: 'backOffMultiplier', kind: 'number', min: 1, max: 1000 },
  maxReconnectAttempts: { key: 'maxReconnectAttempts', kind: 'int', min: -1, max: MAX_INT32 },
  startupMaxReconnectAttempts: { key: 'startupMaxReconnectAttempts', kind: 'int', min: -1, max: MAX_INT32 },
  timeout: { key: 'timeoutMs', kind: 'int', min: -1, max: MAX_DURATION_MS },
  priorityBackup: { key: 'priorityBackup', kind: 'bool', min: 0, max: 0 },
};

function failoverOptions(uri: string, opts: Readonly<Record<string, string>>): FailoverOptions {
  const out: FailoverOptions = { ...DEFAULT_FAILOVER_OPTIONS };
  const seen = new Map<keyof FailoverOptions, string>();
  for (const [name, value] of Object.entries(opts)) {
    const rule = FAILOVER_RULES[name];
    if (!rule) fail(uri, `unknown failover option "${name}" (valid: ${Object.keys(FAILOVER_RULES).join(', ')})`);
    // backOffMultiplier and its alias both set one field; giving both is ambiguous.
    const prev = seen.get(rule.key);
    if (prev !== undefined) fail(uri, `options "${prev}" and "${name}" set the same thing; give one`);
    seen.set(rule.key, name);
    if (rule.kind === 'bool') {
      if (value !== 'true' && value !== 'false') fail(uri, `option ${name} must be true or false, got "${value}"`);
      (out[rule.key] as boolean) = value === 'true';
    } else {
      const n = rule.kind === 'int' ? parseIntStrict(value, rule.min, rule.max) : Number(value);
      if (n === undefined || !/^-?\d+(\.\d+)?$/.test(value) || n < rule.min || n > rule.max) {
        const what = rule.kind === 'int' ? 'an integer' : 'a number';
        fail(uri, `option ${name} must be ${what} ${rule.min}..${rule.max}, got "${value}"`);
      }
      (out[rule.key] as number) = n;
    }
  }
  return out;
}

/**
 * Split the part after `failover:` / `static:` into its entries and the composite's own query. `(a,b)?q` keeps `q`
 * for the composite; the bare form `a,b` has no query of its own (a `?` there belongs to the last entry, as in
 * ActiveMQ). Entries cannot contain commas or parentheses, so a flat split after a balance check is enough.
 */
function splitComposite(uri: string, prefix: string, body: string): { items: string[]; query: string | null } {
  let rest = body.trim();
  if (rest.startsWith('//')) rest = rest.slice(2); // ActiveMQ also accepts failover://(...)
  const opens = (rest.match(/\(/g) ?? []).length;
  const closes = (rest.match(/\)/g) ?? []).length;
  if (opens !== closes) fail(uri, `unbalanced parentheses (${opens} "(" but ${closes} ")")`);
  let list: string;
  let query: string | null = null;
  if (rest.startsWith('(')) {
    let depth = 0;
    let end = -1;
    for (let i = 0; i < rest.length && end < 0; i++) {
      if (rest[i] === '(') depth++;
      else if (rest[i] === ')' && --depth === 0) end = i;
    }
    list = rest.slice(1, end);
    const after = rest.slice(end + 1);
    if (after.startsWith('?')) query = after.slice(1);
    else if (after !== '') fail(uri, `unexpected "${after}" after ")" (expected ?options or nothing)`);
  } else {
    if (opens > 0) fail(uri, `"(" must follow "${prefix}" directly, e.g. ${prefix}(tcp://a:61616,tcp://b:61616)`);
    list = rest;
  }
  if (list.trim() === '') fail(uri, `empty URI list after "${prefix}"`);
  const items = list.split(',').map((x) => x.trim());
  items.forEach((item, i) => {
    if (item === '') fail(uri, `empty entry ${i + 1} in the URI list`);
    if (/^(failover|static|masterslave|discovery):/i.test(item)) fail(uri, `nested composite "${item}" is not supported`);
    if (/[()]/.test(item)) fail(uri, `nested parentheses in entry "${item}"`);
  });
  return { items, query };
}

/** Parse each list entry, defaulting the port, and name the offending entry on error. */
function parseEntries(uri: string, items: string[]): EndpointUri[] {
  return items.map((item, i) => {
    try {
      return parseEndpointUri(item, DEFAULT_PORT);
    } catch (e) {
      return fail(uri, `entry ${i + 1} "${item}": ${uriErrorReason(e)}`);
    }
  });
}

/**
 * Parse a client connect URL: `tcp://h:p` (no reconnect: both attempt limits 0), `failover:(tcp://a:1,tcp://b:2)?opts`
 * or bare `failover:tcp://a:1,tcp://b:2`. Entry options (`tcp://a:1?x=y`) stay on the entry; the port defaults to
 * 61616 (also for a single `tcp://host`).
 * @throws InvalidUriError naming the offending option, value or entry
 */
export function parseClientUri(uri: string): ClientUri {
  if (typeof uri !== 'string') return fail(String(uri), 'a URI must be a string');
  const s = uri.trim();
  const d = /^discovery:/i.exec(s);
  if (d) return parseDiscoveryUri(uri, s.slice(d[0].length));
  const m = /^failover:/i.exec(s);
  if (!m) {
    const endpoint = parseEndpointUri(uri, DEFAULT_PORT);
    const options = { ...DEFAULT_FAILOVER_OPTIONS, maxReconnectAttempts: 0, startupMaxReconnectAttempts: 0 };
    return { failover: false, endpoints: [endpoint], options };
  }
  const { items, query } = splitComposite(uri, 'failover:', s.slice(m[0].length));
  const endpoints = parseEntries(uri, items);
  if (query === null) {
    // Bare form: ActiveMQ hands a trailing ?randomize=false to the last endpoint, where it silently does nothing.
    for (const ep of endpoints) {
      const misplaced = Object.keys(ep.options).find((k) => Object.hasOwn(FAILOVER_RULES, k));
      if (misplaced) {
        fail(uri, `failover option "${misplaced}" is on entry "${ep.raw}"; write failover:(...)?${misplaced}=...`);
      }
    }
  }
  return { failover: true, endpoints, options: failoverOptions(uri, parseQuery(uri, query)) };
}

/**
 * `discovery:(multicast://default?group=…)?failoverOptions` (or bare `discovery:multicast://default`): failover
 * over whichever brokers advertise on the group, as ActiveMQ's DiscoveryTransport.
 */
function parseDiscoveryUri(uri: string, body: string): ClientUri {
  let rest = body.trim();
  let query: string | null = null;
  if (rest.startsWith('(')) {
    const end = rest.lastIndexOf(')');
    if (end < 0) fail(uri, 'missing ")" after the discovery URI');
    const after = rest.slice(end + 1);
    if (after.startsWith('?')) query = after.slice(1);
    else if (after !== '') fail(uri, `unexpected "${after}" after ")" (expected ?options or nothing)`);
    rest = rest.slice(1, end).trim();
  }
  if (rest.includes(',')) fail(uri, 'discovery: takes one multicast://<group> URI');
  if (!/^multicast:\/\//i.test(rest)) fail(uri, `expected discovery:(multicast://<group>), got "${rest}"`);
  let discovery: MulticastOptions;
  try {
    discovery = parseMulticastUri(rest);
  } catch (e) {
    return fail(uri, uriErrorReason(e));
  }
  const options = failoverOptions(uri, parseQuery(uri, query));
  // There is no fixed first broker to prefer when the list is whoever advertises.
  if (options.priorityBackup) fail(uri, 'priorityBackup needs a failover:(…) list; discovery has no first broker');
  return { failover: true, endpoints: [], options, discovery };
}

/** A parsed networkConnector URI. */
export type NetworkUri =
  | { kind: 'static'; endpoints: EndpointUri[]; options: Readonly<Record<string, string>> }
  /** One bridge that follows whichever of a master/slave pair is serving (ActiveMQ's masterslave: URI). */
  | { kind: 'masterslave'; endpoints: EndpointUri[]; options: Readonly<Record<string, string>> }
  | { kind: 'multicast'; group: string; options: Readonly<Record<string, string>> };

/**
 * Parse a networkConnector URI: `static:(tcp://127.0.0.1:61617,tcp://127.0.0.1:61618)?opts`,
 * `static:tcp://a:1,tcp://b:2`, or `multicast://default?opts` (group = the host part). Options are kept unvalidated
 * for the bridge to interpret.
 * @throws InvalidUriError naming the offending part
 */
export function parseNetworkUri(uri: string): NetworkUri {
  if (typeof uri !== 'string') return fail(String(uri), 'a URI must be a string');
  const s = uri.trim();
  const st = /^static:/i.exec(s);
  if (st) {
    const { items, query } = splitComposite(uri, 'static:', s.slice(st[0].length));
    return { kind: 'static', endpoints: parseEntries(uri, items), options: parseQuery(uri, query) };
  }
  const ms = /^masterslave:/i.exec(s);
  if (ms) {
    const { items, query } = splitComposite(uri, 'masterslave:', s.slice(ms[0].length));
    return { kind: 'masterslave', endpoints: parseEntries(uri, items), options: parseQuery(uri, query) };
  }
  const mc = /^multicast:\/\//i.exec(s);
  if (mc) {
    const rest = s.slice(mc[0].length);
    const q = rest.indexOf('?');
    let group = q < 0 ? rest : rest.slice(0, q);
    if (group.endsWith('/')) group = group.slice(0, -1);
    if (group === '') fail(uri, 'the multicast group is missing (expected multicast://default)');
    // ferrymq always uses ActiveMQ's default address 239.255.2.3:6155; the host part only names the group.
    if (group.includes(':')) fail(uri, 'multicast://<group> takes no address or port, only a group name');
    if (!/^[A-Za-z0-9._-]+$/.test(group)) fail(uri, `invalid multicast group name "${group}"`);
    return { kind: 'multicast', group, options: parseQuery(uri, q < 0 ? null : rest.slice(q + 1)) };
  }
  return fail(uri, 'expected static:(tcp://host:port,...), masterslave:(tcp://…,tcp://…) or multicast://<group>');
}

/** ActiveMQ's multicast discovery address and port (`multicast://default`). */
export const DEFAULT_MULTICAST_ADDRESS = '239.255.2.3';
export const DEFAULT_MULTICAST_PORT = 6155;
/** Advertisement period, ms (ActiveMQ's keepAliveInterval). */
export const DEFAULT_KEEP_ALIVE_INTERVAL_MS = 500;
/** A peer silent for this many keep-alive intervals is dropped (ActiveMQ's HEARTBEAT_MISS_BEFORE_DEATH). */
export const DEAD_PEER_INTERVALS = 10;
/**
 * Where discovery datagrams go unless the user names an interface: loopback, so a one-machine cluster works out of
 * the box and nothing leaves the machine by accident (ActiveMQ picks the last multicast NIC, AMQ-5520).
 */
export const DEFAULT_MULTICAST_INTERFACE = '127.0.0.1';

/** Settings of one multicast discovery agent, from `multicast://<group>?opts`. */
export interface MulticastOptions {
  /** Group name, the datagrams' prefix; the URI's host part unless `group=` is given. @default 'default' */
  group: string;
  /** @default 239.255.2.3 */
  address: string;
  /** @default 6155 */
  port: number;
  /** `interface=`: local IPv4 address to send and join on. @default 127.0.0.1 (unless networkInterface is set) */
  interfaceAddress: string | null;
  /** `networkInterface=`: NIC name; its IPv4 address is looked up when the agent starts. */
  networkInterface: string | null;
  /** `timeToLive=`: multicast TTL; 1 stays on the local network. @default 1 */
  timeToLive: number;
  /** `keepAliveInterval=`, ms. @default 500 */
  keepAliveIntervalMs: number;
}

const MULTICAST_OPTION_NAMES = ['group', 'interface', 'networkInterface', 'timeToLive', 'keepAliveInterval'] as const;
/** Options a `multicast://` URI may carry for its discovery agent. */
export const MULTICAST_OPTIONS: readonly string[] = MULTICAST_OPTION_NAMES;

/**
 * Validate the discovery options of a parsed `multicast://` URI. Options that are not discovery options are left
 * to the caller (a network connector also takes its own attributes there) unless `strict`.
 * @throws InvalidUriError naming the offending option and value
 */
export function multicastOptions(n: Extract<NetworkUri, { kind: 'multicast' }>, raw: string, strict = false): MulticastOptions {
  const o = n.options;
  const out: MulticastOptions = {
    group: n.group,
    address: DEFAULT_MULTICAST_ADDRESS,
    port: DEFAULT_MULTICAST_PORT,
    interfaceAddress: null,
    networkInterface: null,
    timeToLive: 1,
    keepAliveIntervalMs: DEFAULT_KEEP_ALIVE_INTERVAL_MS,
  };
  if (strict) {
    const unknown = Object.keys(o).find((k) => !MULTICAST_OPTIONS.includes(k));
    if (unknown !== undefined) fail(raw, `unknown option "${unknown}" (valid: ${MULTICAST_OPTIONS.join(', ')})`);
  }
  if (o['group'] !== undefined) {
    // The group is the text prefix of every datagram: keep it to the characters ActiveMQ users put there.
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/.test(o['group'])) fail(raw, `option group must be a name of letters, digits, . _ -, got "${o['group']}"`);
    out.group = o['group'];
  }
  if (o['interface'] !== undefined && o['networkInterface'] !== undefined) {
    fail(raw, 'give either interface (an IPv4 address) or networkInterface (a NIC name), not both');
  }
  if (o['interface'] !== undefined) {
    const ip = o['interface'];
    if (!isIPv4(ip) || ip === '0.0.0.0') fail(raw, `option interface must be a local IPv4 address, got "${ip}"`);
    out.interfaceAddress = ip;
  }
  if (o['networkInterface'] !== undefined) {
    if (!/^[A-Za-z0-9_.:@-]{1,64}$/.test(o['networkInterface'])) fail(raw, `option networkInterface must be a NIC name, got "${o['networkInterface']}"`);
    out.networkInterface = o['networkInterface'];
  }
  if (out.interfaceAddress === null && out.networkInterface === null) out.interfaceAddress = DEFAULT_MULTICAST_INTERFACE;
  if (o['timeToLive'] !== undefined) {
    const ttl = parseIntStrict(o['timeToLive'], 0, 255);
    if (ttl === undefined) fail(raw, `option timeToLive must be an integer 0..255, got "${o['timeToLive']}"`);
    out.timeToLive = ttl;
  }
  if (o['keepAliveInterval'] !== undefined) {
    // Below 10 ms the group is flooded; above a minute a dead peer lingers for ten.
    const ms = parseIntStrict(o['keepAliveInterval'], 10, 60_000);
    if (ms === undefined) fail(raw, `option keepAliveInterval must be an integer number of ms 10..60000, got "${o['keepAliveInterval']}"`);
    out.keepAliveIntervalMs = ms;
  }
  return Object.freeze(out);
}

/** Parse `multicast://<group>?opts` as a discovery URI on its own (discoveryUri, `discovery:(…)`): options strict. */
export function parseMulticastUri(uri: string): MulticastOptions {
  const n = parseNetworkUri(uri);
  if (n.kind !== 'multicast') return fail(uri, 'expected multicast://<group>, e.g. multicast://default');
  return multicastOptions(n, uri, true);
}
