/** `<networkConnector>`: a bridge to other brokers, its attributes (also as URI options) and destination lists. */
import { MULTICAST_OPTIONS, multicastOptions, parseNetworkUri, uriErrorReason, type NetworkUri } from '../transport/uri.js';
import { Attrs, type Ctx, children, type XNode } from './xml.js';

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
  /** Credentials the bridges present to their peers (`userName`, `password`; also URI options). @default none */
  userName?: string;
  /** Not enumerable, so a config printed as JSON never shows it. */
  readonly password?: string;
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


/** Attributes of `<networkConnector>`, which may also be given as options on its URI (`static:(…)?networkTTL=2`). */
const NETWORK_ATTRS = [
  'name', 'uri', 'duplex', 'networkTTL', 'conduitSubscriptions', 'dynamicOnly', 'decreaseNetworkConsumerPriority', 'prefetchSize', 'userName', 'password',
];
/** Options of a static: URI: how a peer that is down is redialled (ActiveMQ's SimpleDiscoveryAgent). */
const RECONNECT_OPTS = ['initialReconnectDelay', 'maxReconnectDelay', 'useExponentialBackOff', 'backOffMultiplier'];
const FILTER_LISTS = ['excludedDestinations', 'dynamicallyIncludedDestinations', 'staticallyIncludedDestinations'] as const;

export function readNetwork(ctx: Ctx, path: string, node: XNode): NetworkConnectorConfig {
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
  const userName = a.nonEmpty('userName');
  const password = a.str('password');
  if ((userName === undefined) !== (password === undefined)) ctx.fail(path, 'give userName and password together, or neither');
  const out: NetworkConnectorConfig = {
    name: a.nonEmpty('name') ?? 'bridge',
    // Shown in logs and the console: a password given as a URI option is not.
    uri: uri.raw.replace(/([?&]password=)[^&]*/, '$1***'),
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
  if (userName !== undefined) {
    out.userName = userName;
    Object.defineProperty(out, 'password', { value: password, enumerable: false });
  }
  return out;
}

