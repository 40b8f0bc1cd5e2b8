/**
 * Broker configuration from XML in ActiveMQ's activemq.xml vocabulary, so users can bring the snippets they know.
 * What ferrymq does not implement is reported as a warning naming the element, never silently dropped; a value
 * that cannot work is a ConfigError on one line naming file, element, attribute, value and reason.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ConfigError } from '../errors.js';
import { DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS, DEFAULT_LOCK_KEEP_ALIVE_PERIOD_MS } from '../ha/shared-store-lock.js';
import { readPolicies, type PolicyEntry } from './policy.js';
import { Attrs, type ConfigWarning, Ctx, children, parseSize, type XNode } from './xml.js';

export type { ConfigWarning } from './xml.js';
export type { PolicyEntry } from './policy.js';
import {
  connectorOptions,
  MULTICAST_OPTIONS,
  multicastOptions,
  parseEndpointUri,
  parseNetworkUri,
  uriErrorReason,
  type ConnectorOptions,
  type EndpointUri,
  type NetworkUri,
} from '../transport/uri.js';

/** A `<transportConnector>`: where clients connect. */
export interface TransportConnectorConfig {
  /** @default the uri, as in ActiveMQ */
  name: string;
  uri: string;
  endpoint: EndpointUri;
  options: ConnectorOptions;
  /** e.g. `multicast://default`: advertise this connector by multicast discovery. */
  discoveryUri?: string;
}

/** A `<networkConnector>`: a bridge to other brokers. */
export interface NetworkConnectorConfig {
  /** @default 'bridge' */
  name: string;
  uri: string;
  network: NetworkUri;
  /** @default false */
  duplex: boolean;
  /** Hops a message or consumer advertisement may travel. @default 1 */
  networkTTL: number;
  /** @default true */
  conduitSubscriptions: boolean;
  /** @default false */
  dynamicOnly: boolean;
  /** @default true */
  decreaseNetworkConsumerPriority: boolean;
  /** @default 1000 */
  prefetchSize: number;
  /** `<excludedDestinations>`: never forwarded (wins over the includes). */
  excludedDestinations: DestinationFilterConfig[];
  /** `<dynamicallyIncludedDestinations>`: forwarded on demand; empty means every destination. */
  dynamicallyIncludedDestinations: DestinationFilterConfig[];
  /** `<staticallyIncludedDestinations>`: forwarded whether or not the peer has consumers. */
  staticallyIncludedDestinations: DestinationFilterConfig[];
  /** Redialling a peer that is down (the static: URI's options). */
  reconnect: {
    /** @default 1000 */
    initialReconnectDelayMs: number;
    /** @default 30000 */
    maxReconnectDelayMs: number;
    /** @default true */
    useExponentialBackOff: boolean;
    /** @default 2 */
    backOffMultiplier: number;
  };
}

/** `<queue physicalName="ORDERS.>"/>` or `<topic physicalName="PRICES.*"/>`, as a canonical name. */
export interface DestinationFilterConfig {
  dest: string;
}

/** The whole broker configuration; deeply frozen. */
/** Producer flow control (ActiveMQ's `<systemUsage>`). */
export interface SystemUsageConfig {
  /** Message bytes held in memory, all destinations together, before producers are held. @default 128 MiB */
  memoryLimitBytes: number;
  /** A held send fails after this many ms; -1 waits for as long as it takes. @default -1 */
  sendFailIfNoSpaceAfterTimeoutMs: number;
  /**
   * `<storeUsage limit>`: bytes the store may take on disk before persistent sends are refused with
   * FERRY_STORE_FULL (free space on the file system is watched too). @default 100 GiB, as ActiveMQ
   */
  storeLimitBytes: number;
}

/**
 * Shared-store master/slave: the first node to open the store holds its lock and serves; others wait
 * (ActiveMQ's SharedFileLocker and LockableServiceSupport attributes).
 */
export interface LockerConfig {
  /** A waiting node retries the lock this often, ms (ActiveMQ: 10000). @default 200 */
  lockAcquireSleepIntervalMs: number;
  /** A master checks it still holds the lock this often, ms; 0 never (ActiveMQ's default). @default 1000 */
  lockKeepAlivePeriodMs: number;
}

export interface BrokerConfig {
  /** @default 'localhost' */
  brokerName: string;
  /** Absolute; a relative path resolves against the working directory. @default '<cwd>/data' */
  dataDirectory: string;
  /** @default true */
  persistent: boolean;
  /** `kind` is 'memory' when persistent is false. @default { kind: 'levelDB', directory: '<dataDirectory>/leveldb' } */
  store: { kind: 'levelDB' | 'memory'; directory: string };
  /** @default [{ name: 'openwire', uri: 'tcp://127.0.0.1:61616' }] */
  transportConnectors: TransportConnectorConfig[];
  /** @default [] */
  networkConnectors: NetworkConnectorConfig[];
  /** @default { enabled: true, host: '127.0.0.1', port: 8161 } */
  webConsole: WebConsoleConfig;
  /** Producer flow control. */
  systemUsage: SystemUsageConfig;
  /** Per-destination settings (`<destinationPolicy>`), first match wins. @default [] */
  policies: PolicyEntry[];
  /** Redeliveries before the dead-letter queue; -1 never dead-letters. @default 6 */
  maximumRedeliveries: number;
  /** Master/slave lock timings. */
  locker: LockerConfig;
  /** The config file, or null when built from defaults or a string. */
  source: string | null;
}

/** `<webConsole host port user password/>`. */
export interface WebConsoleConfig {
  enabled: boolean;
  host: string;
  port: number;
  /** Credentials for the console's actions (send, purge, delete, create); both or neither. Without them actions are refused. */
  user?: string;
  password?: string;
}

/** Command-line style overrides, applied after the file. */
export interface ConfigOverrides {
  brokerName?: string;
  /** Moves the store too: it goes to `<dataDirectory>/leveldb` even where the file names a directory. */
  dataDirectory?: string;
  /** Replace all transport connectors; they are named 'cli0', 'cli1', ... */
  transports?: string[];
  /**
   * Replace all network connectors with these URIs (`static:(tcp://127.0.0.1:61617)?networkTTL=2`); they are named
   * 'cli-network0', ...
   */
  networks?: string[];
  consolePort?: number;
  /** The web console's listen address (containers: 0.0.0.0). */
  consoleHost?: string;
  console?: boolean;
  persistent?: boolean;
  lockAcquireSleepIntervalMs?: number;
  lockKeepAlivePeriodMs?: number;
}


/** ActiveMQ elements whose features ferrymq lacks or sets differently; named in a warning so nobody relies on them. */
const IGNORED = new Set([
    'managementContext',
  'plugins',
  'destinationInterceptors',
]);

function transportEndpoint(u: string): { endpoint: EndpointUri; options: ConnectorOptions } {
  const endpoint = parseEndpointUri(u);
  return { endpoint, options: connectorOptions(endpoint) };
}

/** Everything read from the file, before overrides and defaults that depend on other fields. */
interface Draft {
  brokerName: string;
  dataDirectory: string;
  persistent: boolean;
  storeDir: string | undefined;
  transports: TransportConnectorConfig[] | undefined;
  networks: NetworkConnectorConfig[];
  webConsole: WebConsoleConfig;
  maximumRedeliveries: number;
  systemUsage: SystemUsageConfig;
  policies: PolicyEntry[];
  locker: LockerConfig;
}

/** `<storeUsage><storeUsage limit="1 gb"/></storeUsage>`. */
function readStoreUsage(ctx: Ctx, path: string, nodes: XNode[], d: Draft): void {
  for (const su of nodes) {
    for (const [n3, l3] of children(su)) {
      const p3 = `${path}<${n3}>`;
      if (n3 !== 'storeUsage') {
        ctx.warn(`${p3} is not a known element; ignored`);
        continue;
      }
      for (const leaf of l3) {
        const la = new Attrs(ctx, p3, leaf, ['limit']);
        const raw = la.str('limit');
        if (raw === undefined) continue;
        const bytes = parseSize(raw);
        if (bytes === undefined || bytes < 1024 * 1024) {
          ctx.failAttr(p3, 'limit', raw, 'must be a size of at least 1 mb, e.g. "10 gb"');
        }
        d.systemUsage.storeLimitBytes = bytes;
      }
    }
  }
}

/**
 * `<systemUsage><systemUsage sendFailIfNoSpaceAfterTimeout="ms"><memoryUsage><memoryUsage limit="64 mb"/>…`:
 * the memory producers may fill before flow control holds their sends.
 */
function readSystemUsage(ctx: Ctx, path: string, node: XNode, d: Draft): void {
  for (const [n1, l1] of children(node)) {
    const p1 = `${path}<${n1}>`;
    if (n1 !== 'systemUsage') {
      ctx.warn(`${p1} is not a known element; ignored`);
      continue;
    }
    for (const su of l1) {
      const a = new Attrs(ctx, p1, su, ['sendFailIfNoSpaceAfterTimeout', 'sendFailIfNoSpace']);
      const timeout = a.int('sendFailIfNoSpaceAfterTimeout', -1, 0, 2147483647);
      if (timeout >= 0) d.systemUsage.sendFailIfNoSpaceAfterTimeoutMs = timeout;
      if (a.bool('sendFailIfNoSpace', false)) d.systemUsage.sendFailIfNoSpaceAfterTimeoutMs = 0;
      for (const [n2, l2] of children(su)) {
        const p2 = `${p1}<${n2}>`;
        if (n2 === 'storeUsage') {
          readStoreUsage(ctx, p2, l2, d);
          continue;
        }
        if (n2 !== 'memoryUsage') {
          ctx.warn(`${p2} is ignored: ferrymq bounds memory only (the store pages to disk)`);
          continue;
        }
        for (const mu of l2) {
          for (const [n3, l3] of children(mu)) {
            const p3 = `${p2}<${n3}>`;
            if (n3 !== 'memoryUsage') {
              ctx.warn(`${p3} is not a known element; ignored`);
              continue;
            }
            for (const leaf of l3) {
              const la = new Attrs(ctx, p3, leaf, ['limit']);
              const raw = la.str('limit');
              if (raw === undefined) continue;
              const bytes = parseSize(raw);
              if (bytes === undefined || bytes < 1024 * 1024) {
                ctx.failAttr(p3, 'limit', raw, 'must be a size of at least 1 mb, e.g. "64 mb"');
              }
              d.systemUsage.memoryLimitBytes = bytes;
            }
          }
        }
      }
    }
  }
}

function readTransport(ctx: Ctx, path: string, node: XNode): TransportConnectorConfig {
  const a = new Attrs(ctx, path, node, ['name', 'uri', 'discoveryUri']);
  const uri = a.uri('uri', transportEndpoint);
  if (!uri) return ctx.fail(path, 'attribute uri is required, e.g. uri="tcp://127.0.0.1:61616"');
  const disc = a.uri('discoveryUri', (u) => {
    const n = parseNetworkUri(u);
    if (n.kind !== 'multicast') throw new Error('discoveryUri must be multicast://<group>');
    return multicastOptions(n, u, true);
  });
  const tc: TransportConnectorConfig = { name: a.nonEmpty('name') ?? uri.raw, uri: uri.raw, ...uri.value };
  if (disc) tc.discoveryUri = disc.raw;
  return tc;
}

/** Attributes of `<networkConnector>`, which may also be given as options on its URI (`static:(…)?networkTTL=2`). */
const NETWORK_ATTRS = ['name', 'uri', 'duplex', 'networkTTL', 'conduitSubscriptions', 'dynamicOnly', 'decreaseNetworkConsumerPriority', 'prefetchSize'];
/** Options of a static: URI: how a peer that is down is redialled (ActiveMQ's SimpleDiscoveryAgent). */
const RECONNECT_OPTS = ['initialReconnectDelay', 'maxReconnectDelay', 'useExponentialBackOff', 'backOffMultiplier'];
const FILTER_LISTS = ['excludedDestinations', 'dynamicallyIncludedDestinations', 'staticallyIncludedDestinations'] as const;

function readNetwork(ctx: Ctx, path: string, node: XNode): NetworkConnectorConfig {
  const own = (node['@'] as Record<string, string> | undefined) ?? {};
  const raw = own['uri'];
  if (raw === undefined) return ctx.fail(path, 'attribute uri is required, e.g. uri="static:(tcp://127.0.0.1:61617)"');
  // The URI's options: reconnect settings, or the element's own attributes (the element wins where both are set).
  let query: Readonly<Record<string, string>> = {};
  let multicast = false;
  try {
    const n = parseNetworkUri(raw);
    query = n.options;
    if (n.kind === 'multicast') {
      multicast = true;
      multicastOptions(n, raw);
    }
  } catch (err) {
    if (multicast) ctx.failAttr(path, 'uri', raw, uriErrorReason(err));
    // else reported below, with the element path, by a.uri()
  }
  // A multicast URI also carries its discovery agent's options (group, interface, …), which are not attributes.
  const agentOpts: readonly string[] = multicast ? MULTICAST_OPTIONS : [];
  for (const k of Object.keys(query)) {
    if (!NETWORK_ATTRS.includes(k) && !RECONNECT_OPTS.includes(k) && !agentOpts.includes(k)) {
      ctx.failAttr(path, 'uri', raw, `unknown option ${k} (known: ${[...RECONNECT_OPTS, ...NETWORK_ATTRS.slice(2), ...agentOpts].join(', ')})`);
    }
  }
  const attrs = Object.fromEntries(Object.entries(query).filter(([k]) => !agentOpts.includes(k)));
  const merged: XNode = { ...node, '@': { ...attrs, ...own } };
  const a = new Attrs(ctx, path, merged, [...NETWORK_ATTRS, ...RECONNECT_OPTS]);
  const uri = a.uri('uri', parseNetworkUri)!;
  const lists: Record<(typeof FILTER_LISTS)[number], DestinationFilterConfig[]> = {
    excludedDestinations: [],
    dynamicallyIncludedDestinations: [],
    staticallyIncludedDestinations: [],
  };
  for (const [name, nodes] of children(node)) {
    if (!(FILTER_LISTS as readonly string[]).includes(name)) {
      ctx.warn(`${path}<${name}> is not supported by ferrymq; ignored`);
      continue;
    }
    for (const list of nodes) {
      for (const [kind, entries] of children(list)) {
        if (kind !== 'queue' && kind !== 'topic') {
          ctx.fail(`${path}<${name}><${kind}>`, 'expected <queue physicalName="…"/> or <topic physicalName="…"/>');
        }
        for (const e of entries) {
          const ea = new Attrs(ctx, `${path}<${name}><${kind}>`, e, ['physicalName']);
          const pn = ea.nonEmpty('physicalName');
          if (pn === undefined) ctx.fail(`${path}<${name}><${kind}>`, 'attribute physicalName is required');
          lists[name as (typeof FILTER_LISTS)[number]].push({ dest: `${kind}://${pn}` });
        }
      }
    }
  }
  const maxDelay = a.int('maxReconnectDelay', 30_000, 1, 2_147_483_647);
  return {
    name: a.nonEmpty('name') ?? 'bridge',
    uri: uri.raw,
    network: uri.value,
    duplex: a.bool('duplex', false),
    networkTTL: a.int('networkTTL', 1, 1, 255),
    conduitSubscriptions: a.bool('conduitSubscriptions', true),
    dynamicOnly: a.bool('dynamicOnly', false),
    decreaseNetworkConsumerPriority: a.bool('decreaseNetworkConsumerPriority', true),
    prefetchSize: a.int('prefetchSize', 1000, 1, 2147483647),
    ...lists,
    reconnect: {
      initialReconnectDelayMs: Math.min(a.int('initialReconnectDelay', 1000, 0, 2_147_483_647), maxDelay),
      maxReconnectDelayMs: maxDelay,
      useExponentialBackOff: a.bool('useExponentialBackOff', true),
      backOffMultiplier: a.int('backOffMultiplier', 2, 1, 100),
    },
  };
}

/** Tell tutorial users where the console port went instead of silently dropping their jetty.xml bean. */
function beanHint(ctx: Ctx, path: string, node: XNode): boolean {
  const cls = (node['@'] as Record<string, string> | undefined)?.['class'] ?? '';
  if (!cls.endsWith('WebConsolePort')) return false;
  ctx.warn(`${path} (${cls}) is ignored; set the console address with <webConsole host="127.0.0.1" port="8161"/>`);
  return true;
}

/**
 * `<locker>` inside a store element: ActiveMQ's `<shared-file-locker lockAcquireSleepInterval="…"/>` (Spring's
 * spelling; `<sharedFileLocker>` is accepted too). ferrymq's lock is LevelDB's own LOCK file either way.
 */
function readLocker(ctx: Ctx, path: string, node: XNode, locker: LockerConfig): void {
  for (const [name, list] of children(node)) {
    const p = `${path}<${name}>`;
    if (name !== 'shared-file-locker' && name !== 'sharedFileLocker') {
      ctx.warn(`${p} is not supported by ferrymq; ignored (the lock is the store's own file lock)`);
      continue;
    }
    for (const n of list) {
      const a = new Attrs(ctx, p, n, ['lockAcquireSleepInterval']);
      locker.lockAcquireSleepIntervalMs = a.int('lockAcquireSleepInterval', locker.lockAcquireSleepIntervalMs, 10, 3_600_000);
    }
  }
}

function readStore(ctx: Ctx, path: string, node: XNode, locker: LockerConfig): string | undefined {
  let dir: string | undefined;
  let found = 0;
  for (const [name, list] of children(node)) {
    if (name !== 'levelDB' && name !== 'kahaDB') {
      ctx.warn(`${path}<${name}> is not supported by ferrymq; ignored (the store is levelDB)`);
      continue;
    }
    for (const n of list) {
      if (++found > 1) ctx.fail(`${path}<${name}>`, 'only one store may be configured');
      // kahaDB is accepted as a synonym: the tutorial uses it and ferrymq has one store format.
      const a = new Attrs(ctx, `${path}<${name}>`, n, ['directory', 'lockKeepAlivePeriod', 'lockAcquireSleepInterval']);
      const d = a.nonEmpty('directory');
      locker.lockKeepAlivePeriodMs = a.int('lockKeepAlivePeriod', locker.lockKeepAlivePeriodMs, 0, 3_600_000);
      locker.lockAcquireSleepIntervalMs = a.int('lockAcquireSleepInterval', locker.lockAcquireSleepIntervalMs, 10, 3_600_000);
      for (const [cn, cl] of children(n)) {
        if (cn === 'locker') for (const l of cl) readLocker(ctx, `${path}<${name}><locker>`, l, locker);
        else ctx.warn(`${path}<${name}><${cn}> is not supported by ferrymq; ignored`);
      }
      if (d !== undefined && process.platform !== 'win32' && /^[A-Za-z]:[\\/]/.test(d)) {
        ctx.warn(`${path}<${name}> directory "${d}" is a Windows path; here it is ${resolve(ctx.cwd, d)}`);
      }
      dir = d;
    }
  }
  return dir;
}

function readBroker(ctx: Ctx, path: string, node: XNode): Draft {
  const a = new Attrs(ctx, path, node, ['brokerName', 'dataDirectory', 'persistent', 'maximumRedeliveries']);
  const d: Draft = {
    brokerName: a.nonEmpty('brokerName') ?? 'localhost',
    dataDirectory: resolve(ctx.cwd, a.nonEmpty('dataDirectory') ?? ctx.defaultData),
    persistent: a.bool('persistent', true),
    storeDir: undefined,
    transports: undefined,
    networks: [],
    webConsole: { enabled: true, host: '127.0.0.1', port: 8161 },
    maximumRedeliveries: a.int('maximumRedeliveries', 6, -1, 2147483647),
    systemUsage: { memoryLimitBytes: 128 * 1024 * 1024, sendFailIfNoSpaceAfterTimeoutMs: -1, storeLimitBytes: 100 * 1024 ** 3 },
    policies: [],
    locker: {
      lockAcquireSleepIntervalMs: DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS,
      lockKeepAlivePeriodMs: DEFAULT_LOCK_KEEP_ALIVE_PERIOD_MS,
    },
  };
  for (const [name, list] of children(node)) {
    const p = `${path}<${name}>`;
    // The parser groups same-named siblings, so a repeat shows up as a longer list.
    const single = name === 'persistenceAdapter' || name === 'webConsole';
    if (single && list.length > 1) ctx.fail(p, 'may appear only once');
    for (const n of list) {
      if (name === 'transportConnectors') {
        d.transports ??= [];
        for (const [cn, cl] of children(n)) {
          if (cn !== 'transportConnector') ctx.warn(`${p}<${cn}> is not a known element; ignored`);
          else for (const c of cl) d.transports.push(readTransport(ctx, `${p}<${cn}>`, c));
        }
      } else if (name === 'networkConnectors' || name === 'networkConnections') {
        if (name === 'networkConnections') ctx.warn(`${p} is read as <networkConnectors> (misspelt in the tutorial)`);
        for (const [cn, cl] of children(n)) {
          if (cn !== 'networkConnector' && cn !== 'networkConnection') {
            ctx.warn(`${p}<${cn}> is not a known element; ignored`);
            continue;
          }
          if (cn === 'networkConnection') ctx.warn(`${p}<${cn}> is read as <networkConnector>`);
          for (const c of cl) d.networks.push(readNetwork(ctx, `${p}<${cn}>`, c));
        }
      } else if (name === 'persistenceAdapter') {
        d.storeDir = readStore(ctx, p, n, d.locker);
        if (!d.persistent) ctx.warn(`${p} is ignored because persistent="false" (messages are kept in memory)`);
      } else if (name === 'webConsole') {
        const w = new Attrs(ctx, p, n, ['host', 'port', 'enabled', 'user', 'password']);
        const host = w.nonEmpty('host') ?? d.webConsole.host;
        if (isIP(host) === 0 && !/^[A-Za-z0-9_.-]+$/.test(host)) ctx.failAttr(p, 'host', host, 'not a host name or IP');
        d.webConsole = { enabled: w.bool('enabled', true), host, port: w.int('port', 8161, 0, 65535) };
        const user = w.nonEmpty('user');
        const password = w.nonEmpty('password');
        // One without the other would lock the actions for good, or open them with an empty password.
        if (user !== undefined && password === undefined) ctx.fail(p, 'user without password: set both, or neither for a read-only console');
        if (password !== undefined && user === undefined) ctx.fail(p, 'password without user: set both, or neither for a read-only console');
        if (user !== undefined && password !== undefined) Object.assign(d.webConsole, { user, password });
      } else if (name === 'systemUsage') {
        readSystemUsage(ctx, p, n, d);
      } else if (name === 'destinationPolicy') {
        d.policies.push(...readPolicies(ctx, p, n));
      } else if (IGNORED.has(name)) {
        ctx.warn(`${p} is ignored: ferrymq does not support it`);
      } else if (!(name === 'bean' && beanHint(ctx, p, n))) {
        ctx.warn(`${p} is not a known element; ignored`);
      }
    }
  }
  return d;
}

/** Undo the tutorial's `<networkConnections>…</networkConnection>` typo so its snippet loads (with a warning). */
function repairTutorialTypo(ctx: Ctx, xml: string): string {
  for (let i = 0; i < 16; i++) {
    const r = XMLValidator.validate(xml);
    if (r === true) return xml;
    const m = /Expected closing tag 'networkConnections'.*instead of closing tag 'networkConnection'/.exec(r.err.msg);
    const lineStart = xml.split('\n').slice(0, r.err.line - 1).join('\n').length + (r.err.line > 1 ? 1 : 0);
    const at = lineStart + (r.err.col ?? 1) - 1;
    const close = /^<\/networkConnection\s*>/.exec(xml.slice(at));
    const where = `malformed XML at line ${r.err.line}${r.err.col ? `, column ${r.err.col}` : ''}`;
    if (!m || !close) ctx.fail(where, r.err.msg);
    ctx.warn(`line ${r.err.line}: </networkConnection> closes <networkConnections>; read as </networkConnections>`);
    xml = xml.slice(0, at) + '</networkConnections>' + xml.slice(at + close[0].length);
  }
  return ctx.fail('malformed XML', 'too many mismatched closing tags');
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  attributesGroupName: '@', // keeps attributes apart from child elements of the same name
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  isArray: (_n: string, _p: unknown, _leaf: boolean, isAttr: boolean) => !isAttr, // so repeats are visible
});

/** The config is a tree (no cycles); already-frozen parts are still descended into in case their children are not. */
function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function applyOverrides(ctx: Ctx, d: Draft, o: ConfigOverrides): void {
  const bad = (what: string, value: unknown, reason: string): never => {
    throw new ConfigError(`<overrides>: ${what}=${JSON.stringify(value)}: ${reason}`);
  };
  if (o.brokerName !== undefined) {
    if (typeof o.brokerName !== 'string' || o.brokerName.trim() === '') bad('brokerName', o.brokerName, 'empty');
    d.brokerName = o.brokerName.trim();
  }
  if (o.dataDirectory !== undefined) {
    if (typeof o.dataDirectory !== 'string' || o.dataDirectory.trim() === '') {
      bad('dataDirectory', o.dataDirectory, 'empty');
    }
    d.dataDirectory = resolve(ctx.cwd, o.dataDirectory);
    // `--data DIR` moves everything the node writes, the store included, like ActiveMQ's activemq.data.
    d.storeDir = undefined;
  }
  if (o.transports !== undefined) {
    d.transports = o.transports.map((uri, i) => {
      try {
        return { name: `cli${i}`, uri, ...transportEndpoint(uri) };
      } catch (e) {
        return bad(`transports[${i}]`, uri, uriErrorReason(e));
      }
    });
  }
  if (o.networks !== undefined) {
    d.networks = o.networks.map((uri, i) => readNetwork(ctx, `--network[${i}]`, { '@': { name: `cli-network${i}`, uri } }));
  }
  if (o.consolePort !== undefined) {
    const p = o.consolePort;
    if (!Number.isInteger(p) || p < 0 || p > 65535) bad('consolePort', p, 'must be an integer 0..65535');
    d.webConsole.port = p;
  }
  if (o.consoleHost !== undefined) {
    if (typeof o.consoleHost !== 'string' || o.consoleHost.trim() === '') bad('consoleHost', o.consoleHost, 'empty');
    d.webConsole.host = o.consoleHost.trim();
  }
  if (o.console !== undefined) d.webConsole.enabled = o.console;
  if (o.persistent !== undefined) d.persistent = o.persistent;
  if (o.lockAcquireSleepIntervalMs !== undefined) {
    const v = o.lockAcquireSleepIntervalMs;
    if (!Number.isInteger(v) || v < 10 || v > 3_600_000) bad('lockAcquireSleepIntervalMs', v, 'must be an integer 10..3600000');
    d.locker.lockAcquireSleepIntervalMs = v;
  }
  if (o.lockKeepAlivePeriodMs !== undefined) {
    const v = o.lockKeepAlivePeriodMs;
    if (!Number.isInteger(v) || v < 0 || v > 3_600_000) bad('lockKeepAlivePeriodMs', v, 'must be an integer 0..3600000');
    d.locker.lockKeepAlivePeriodMs = v;
  }
}

/** Duplicate names would make two connectors indistinguishable in logs and the console; same address can't bind. */
function checkUnique(ctx: Ctx, transports: TransportConnectorConfig[], networks: NetworkConnectorConfig[]): void {
  const names = new Set<string>();
  const addrs = new Map<string, string>();
  for (const t of transports) {
    if (names.has(t.name)) ctx.fail('<transportConnector>', `duplicate name "${t.name}"`);
    names.add(t.name);
    const addr = `${t.endpoint.host}:${t.endpoint.port}`;
    const other = addrs.get(addr);
    if (t.endpoint.port !== 0 && other !== undefined) {
      ctx.fail(`<transportConnector name="${t.name}">`, `listens on ${addr} like connector "${other}"`);
    }
    addrs.set(addr, t.name);
  }
  names.clear();
  for (const n of networks) {
    if (names.has(n.name)) {
      ctx.fail('<networkConnector>', `duplicate name "${n.name}" (default is "bridge"; give each a distinct name)`);
    }
    names.add(n.name);
  }
}

/**
 * Parse an activemq.xml-style config. The root is `<broker>` or `<beans>` wrapping one `<broker>` (other children
 * of `<beans>` are Spring beans and ignored). Overrides are applied after the file.
 * @throws ConfigError with one line naming file, element, attribute, value and reason
 */
export function parseConfig(
  xml: string,
  opts: { file?: string | null; overrides?: ConfigOverrides; cwd?: string } = {},
): { config: BrokerConfig; warnings: ConfigWarning[] } {
  const ctx = new Ctx(opts.file ?? null, resolve(opts.cwd ?? process.cwd()));
  if (typeof xml !== 'string') ctx.fail('config', 'XML text must be a string');
  let doc: XNode;
  try {
    doc = parser.parse(repairTutorialTypo(ctx, xml)) as XNode;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    return ctx.fail('malformed XML', e instanceof Error ? e.message : String(e));
  }
  const roots = children(doc);
  const names = roots.flatMap(([n, l]) => l.map(() => `<${n}>`));
  if (names.length !== 1 || (names[0] !== '<broker>' && names[0] !== '<beans>')) {
    if (names.filter((n) => n === '<broker>').length > 1) ctx.fail('<broker>', 'only one <broker> is allowed');
    ctx.fail('root', `expected one <broker> or <beans> root element, found ${names.join(', ') || 'none'}`);
  }
  let draft: Draft;
  if (names[0] === '<broker>') {
    draft = readBroker(ctx, '<broker>', roots[0]![1][0]!);
  } else {
    const inner = children(roots[0]![1][0]!);
    const brokers = inner.filter(([n]) => n === 'broker').flatMap(([, l]) => l);
    if (brokers.length !== 1) ctx.fail('<beans>', `must contain exactly one <broker>, found ${brokers.length}`);
    for (const [n, l] of inner) if (n === 'bean') l.forEach((b) => beanHint(ctx, '<beans><bean>', b));
    draft = readBroker(ctx, '<beans><broker>', brokers[0]!);
  }
  applyOverrides(ctx, draft, opts.overrides ?? {});
  const def = 'tcp://127.0.0.1:61616';
  const transports = draft.transports ?? [{ name: 'openwire', uri: def, ...transportEndpoint(def) }];
  checkUnique(ctx, transports, draft.networks);
  const config: BrokerConfig = {
    brokerName: draft.brokerName,
    dataDirectory: draft.dataDirectory,
    persistent: draft.persistent,
    store: {
      kind: draft.persistent ? 'levelDB' : 'memory',
      directory: draft.storeDir !== undefined ? resolve(ctx.cwd, draft.storeDir) : join(draft.dataDirectory, 'leveldb'),
    },
    transportConnectors: transports,
    networkConnectors: draft.networks,
    webConsole: draft.webConsole,
    maximumRedeliveries: draft.maximumRedeliveries,
    locker: draft.locker,
    systemUsage: draft.systemUsage,
    policies: draft.policies,
    source: opts.file ?? null,
  };
  return { config: deepFreeze(config), warnings: ctx.warnings };
}

/**
 * Read and parse a config file. Relative paths inside it resolve against `opts.cwd` (default: process.cwd()).
 * @throws ConfigError when the file cannot be read or is invalid
 */
export function loadConfigFile(
  path: string,
  overrides?: ConfigOverrides,
  opts: { cwd?: string } = {},
): { config: BrokerConfig; warnings: ConfigWarning[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new ConfigError(`${path}: cannot read config file: ${why}`, { cause: e });
  }
  return parseConfig(text, { file: path, overrides, cwd: opts.cwd });
}

/** The configuration with no file: every default, then the overrides. */
export function defaultConfig(overrides?: ConfigOverrides): { config: BrokerConfig; warnings: ConfigWarning[] } {
  return parseConfig('<broker/>', { overrides });
}
