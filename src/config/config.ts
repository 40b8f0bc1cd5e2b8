/**
 * Broker configuration from XML in ActiveMQ's activemq.xml vocabulary, so users can bring the snippets they know.
 * What ferrymq does not implement is reported as a warning naming the element, never silently dropped; a value
 * that cannot work is a ConfigError on one line naming file, element, attribute, value and reason.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS, DEFAULT_LOCK_KEEP_ALIVE_PERIOD_MS } from '../ha/shared-store-lock.js';
import { readPolicies, type PolicyEntry } from './policy.js';
import { readNetwork, type NetworkConnectorConfig } from './network.js';
import type { ReplicatedStoreConfig } from './replicated.js';
import { readPlugins, readSslContext, type SecurityConfig, type SslContextConfig, tlsConnectors } from './security.js';
import { type LockerConfig, readStore, readSystemUsage, type SystemUsageConfig } from './store.js';
import { Placeholders } from './placeholders.js';
import { notABrokerHint, readBeans, type JettyConsole } from './spring.js';
import { connectorFrom, readTransport, transportFromUri, type TransportConnectorConfig } from './transports.js';
import { Attrs, type ConfigWarning, Ctx, children, parseXml, type XNode } from './xml.js';

export type { ConfigWarning } from './xml.js';
export type { PolicyEntry } from './policy.js';
export type { TransportConnectorConfig, WireKind } from './transports.js';
export type { DestinationFilterConfig, NetworkConnectorConfig } from './network.js';
export type { LockerConfig, SystemUsageConfig } from './store.js';
export type { ReplicatedStoreConfig, ReplicationSync } from './replicated.js';
export type { AuthenticationConfig, AuthenticationUserConfig, AuthorizationConfig, AuthorizationEntryConfig, SecurityConfig, SslContextConfig } from './security.js';
import { uriErrorReason } from '../transport/uri.js';

/** The whole broker configuration; deeply frozen. */
export interface BrokerConfig {
  /** @default 'localhost' */
  brokerName: string;
  /** Absolute; a relative path resolves against the working directory. @default '<cwd>/data' */
  dataDirectory: string;
  /** @default true */
  persistent: boolean;
  /** `kind` is 'memory' when persistent is false. @default { kind: 'levelDB', directory: '<dataDirectory>/leveldb' } */
  store: { kind: 'levelDB' | 'memory'; directory: string };
  /** `<replicatedLevelDB>`: the store is replicated over a ZooKeeper-elected group (shared-store lock off). @default null */
  replication: ReplicatedStoreConfig | null;
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
  /** `<plugins>`: authentication and authorization; both null: every client may do everything. */
  security: SecurityConfig;
  /** `<sslContext>`: PEM key, certificate and trusted CAs of ssl:// connectors and of bridges to ssl:// peers. @default null */
  sslContext: SslContextConfig | null;
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


/**
 * ActiveMQ elements whose features ferrymq lacks or sets differently, with what to know instead; named in a warning
 * so nobody relies on them.
 */
const IGNORED: Record<string, string> = {
  managementContext: 'ferrymq has no JMX; see ferrymq dstat',
  destinationInterceptors: 'ferrymq does not support it',
  shutdownHooks: 'ferrymq stops cleanly on SIGTERM and SIGINT by itself',
  persistenceFactory: 'the store is levelDB',
  tempDataStore: 'the store is levelDB',
  ioExceptionHandler: 'ferrymq does not support it',
  proxyConnectors: 'ferrymq does not support it',
  jmsBridgeConnectors: 'ferrymq does not support it',
  destinations: 'destinations are created on first use',
  services: 'ferrymq does not support it',
};

/** Everything read from the file, before overrides and defaults that depend on other fields. */
interface Draft {
  brokerName: string;
  dataDirectory: string;
  persistent: boolean;
  storeDir: string | undefined;
  replication: ReplicatedStoreConfig | null;
  transports: TransportConnectorConfig[] | undefined;
  networks: NetworkConnectorConfig[];
  webConsole: WebConsoleConfig;
  maximumRedeliveries: number;
  systemUsage: SystemUsageConfig;
  policies: PolicyEntry[];
  locker: LockerConfig;
  security: SecurityConfig;
  ssl: SslContextConfig | { skip: string } | null;
}

function readBroker(ctx: Ctx, path: string, node: XNode): Draft {
  const a = new Attrs(ctx, path, node, ['brokerName', 'dataDirectory', 'persistent', 'maximumRedeliveries']);
  const d: Draft = {
    brokerName: a.nonEmpty('brokerName') ?? 'localhost',
    dataDirectory: resolve(ctx.cwd, a.dir('dataDirectory') ?? ctx.defaultData),
    persistent: a.bool('persistent', true),
    storeDir: undefined,
    replication: null,
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
    security: { authentication: null, authorization: null },
    ssl: null,
  };
  for (const [name, list] of children(node)) {
    const p = `${path}<${name}>`;
    // The parser groups same-named siblings, so a repeat shows up as a longer list.
    const single = name === 'persistenceAdapter' || name === 'webConsole' || name === 'plugins' || name === 'sslContext';
    if (single && list.length > 1) ctx.fail(p, 'may appear only once');
    for (const n of list) {
      if (name === 'transportConnectors') {
        d.transports ??= [];
        for (const [cn, cl] of children(n)) {
          if (cn !== 'transportConnector') ctx.warn(`${p}<${cn}> is not a known element; ignored`);
          else {
            for (const c of cl) {
              const tc = readTransport(ctx, `${p}<${cn}>`, c);
              if (tc !== null) d.transports.push(tc);
            }
          }
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
        ({ dir: d.storeDir, replication: d.replication } = readStore(ctx, p, n, d.locker));
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
        readSystemUsage(ctx, p, n, d.systemUsage);
      } else if (name === 'destinationPolicy') {
        d.policies.push(...readPolicies(ctx, p, n));
      } else if (name === 'plugins') {
        readPlugins(ctx, p, n, d.security);
      } else if (name === 'sslContext') {
        d.ssl = readSslContext(ctx, p, n);
      } else if (Object.hasOwn(IGNORED, name)) {
        ctx.warn(`${p} is ignored: ${IGNORED[name]}`);
      } else {
        ctx.warn(`${p} is not a known element; ignored`);
      }
    }
  }
  return d;
}

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
    d.transports = [];
    for (const [i, uri] of o.transports.entries()) {
      let t: ReturnType<typeof transportFromUri>;
      try {
        t = transportFromUri(uri);
      } catch (e) {
        return bad(`transports[${i}]`, uri, uriErrorReason(e));
      }
      if (t.kind === 'skipped') ctx.warn(`--transport ${uri} is skipped: ${t.reason}`);
      else d.transports.push(connectorFrom(ctx, `--transport ${uri}`, `cli${i}`, t));
    }
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

/** Where `${activemq.base}` and the other placeholders come from, besides the file's own location. */
export interface PlaceholderOptions {
  /** `ferrymq start --base DIR`: `${activemq.base}`, and home, conf (DIR/conf) and data (DIR/data) from it. */
  base?: string;
  /** ACTIVEMQ_BASE, ACTIVEMQ_HOME, ACTIVEMQ_CONF, ACTIVEMQ_DATA and any `${NAME}`. @default {} (not process.env) */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The tutorial's jetty.xml bean sets the console, unless the broker has its own `<webConsole>`, which wins. */
function applyJettyConsole(ctx: Ctx, d: Draft, jetty: JettyConsole | null, brokerNode: XNode): void {
  if (jetty === null || (jetty.host === undefined && jetty.port === undefined)) return;
  if (brokerNode['webConsole'] !== undefined) {
    ctx.warn(`${jetty.where}: the web console address is set by <webConsole> in <broker>; the bean is ignored`);
    return;
  }
  if (jetty.host !== undefined) d.webConsole.host = jetty.host;
  if (jetty.port !== undefined) d.webConsole.port = jetty.port;
}

/**
 * Parse an activemq.xml-style config. The root is `<broker>` or Spring's `<beans>` around one `<broker>`, with
 * property placeholder configurers, imports (jetty.xml) and other beans (ignored, with a warning each). Overrides
 * are applied after the file.
 * @throws ConfigError with one line naming file, element, attribute, value and reason
 */
export function parseConfig(
  xml: string,
  opts: { file?: string | null; overrides?: ConfigOverrides; cwd?: string } & PlaceholderOptions = {},
): { config: BrokerConfig; warnings: ConfigWarning[] } {
  const cwd = resolve(opts.cwd ?? process.cwd());
  const file = opts.file ?? null;
  const placeholders = new Placeholders({ cwd, file: file === null ? null : resolve(cwd, file), base: opts.base, env: opts.env });
  const ctx = new Ctx(file, cwd, placeholders);
  if (typeof xml !== 'string') ctx.fail('config', 'XML text must be a string');
  const doc = parseXml(ctx, xml);
  const roots = children(doc);
  const names = roots.flatMap(([n, l]) => l.map(() => `<${n}>`));
  if (names.length !== 1 || (names[0] !== '<broker>' && names[0] !== '<beans>')) {
    if (names.filter((n) => n === '<broker>').length > 1) ctx.fail('<broker>', 'only one <broker> is allowed');
    ctx.fail('root', `expected one <broker> or <beans> root element, found ${names.join(', ') || 'none'}; ` +
      'a broker configuration is an activemq.xml');
  }
  let draft: Draft;
  if (names[0] === '<broker>') {
    draft = readBroker(ctx, '<broker>', roots[0]![1][0]!);
  } else {
    const beans = roots[0]![1][0]!;
    const spring = readBeans(ctx, '<beans>', beans);
    if (spring.brokers.length === 0) ctx.fail('<beans>', `has no <broker>: ${notABrokerHint(file, children(beans))}`);
    if (spring.brokers.length > 1) ctx.fail('<beans>', `must contain exactly one <broker>, found ${spring.brokers.length}`);
    const b = spring.brokers[0]!;
    draft = readBroker(b.ctx, b.path, b.node);
    applyJettyConsole(ctx, draft, spring.console, b.node);
  }
  applyOverrides(ctx, draft, opts.overrides ?? {});
  const def = transportFromUri('tcp://127.0.0.1:61616');
  const transports = draft.transports ?? (def.kind === 'served' ? [connectorFrom(ctx, 'default', 'openwire', def)] : []);
  if (transports.length === 0 && draft.transports !== undefined) {
    ctx.warn('no transport connector ferrymq can serve: clients cannot connect (add <transportConnector uri="tcp://127.0.0.1:61616"/>)');
  }
  const served = tlsConnectors(ctx, transports, draft.ssl);
  checkUnique(ctx, served, draft.networks);
  const config: BrokerConfig = {
    brokerName: draft.brokerName,
    dataDirectory: draft.dataDirectory,
    persistent: draft.persistent,
    store: {
      kind: draft.persistent ? 'levelDB' : 'memory',
      directory: draft.storeDir !== undefined ? resolve(ctx.cwd, draft.storeDir) : join(draft.dataDirectory, 'leveldb'),
    },
    replication: draft.persistent ? draft.replication : null,
    transportConnectors: served,
    networkConnectors: draft.networks,
    webConsole: draft.webConsole,
    maximumRedeliveries: draft.maximumRedeliveries,
    locker: draft.locker,
    systemUsage: draft.systemUsage,
    policies: draft.policies,
    security: draft.security,
    sslContext: draft.ssl !== null && !('skip' in draft.ssl) ? draft.ssl : null,
    source: opts.file ?? null,
  };
  return { config: deepFreeze(config), warnings: ctx.warnings };
}

/**
 * Read and parse a config file. Relative paths inside it resolve against `opts.cwd` (default: process.cwd());
 * imports and property files against the file's directory.
 * @throws ConfigError when the file cannot be read or is invalid
 */
export function loadConfigFile(
  path: string,
  overrides?: ConfigOverrides,
  opts: { cwd?: string } & PlaceholderOptions = {},
): { config: BrokerConfig; warnings: ConfigWarning[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new ConfigError(`${path}: cannot read config file: ${why}`, { cause: e });
  }
  return parseConfig(text, { ...opts, file: path, overrides });
}

/** The configuration with no file: every default, then the overrides. */
export function defaultConfig(overrides?: ConfigOverrides): { config: BrokerConfig; warnings: ConfigWarning[] } {
  return parseConfig('<broker/>', { overrides });
}
