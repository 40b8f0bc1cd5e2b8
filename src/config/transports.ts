/**
 * `<transportConnector uri="…">` in ActiveMQ's vocabulary: which schemes ferrymq serves (tcp/nio: native;
 * stomp/stomp+nio: STOMP; auto/auto+nio: either, detected per connection; ssl, stomp+ssl: the same over TLS), which
 * it skips with a warning (amqp, mqtt, ws, auto+ssl, …: a broker must still start), and which URI options it uses,
 * ignores with a warning, or refuses.
 */
import { InvalidUriError } from '../errors.js';
import { connectorOptions, type ConnectorOptions, type EndpointUri, parseEndpointUri, parseNetworkUri, multicastOptions } from '../transport/uri.js';
import { Attrs, type Ctx, type XNode } from './xml.js';

/** What a connector speaks: ferrymq's native frames, STOMP, or either, detected from a connection's first bytes. */
export type WireKind = 'native' | 'stomp' | 'auto';

/** An auto:// connection shows its protocol within this (`protocolDetectionTimeOut`; ActiveMQ: 30000): the CONNECT deadline. */
export const DEFAULT_PROTOCOL_DETECTION_TIMEOUT_MS = 10_000;

/** A `<transportConnector>`: where clients connect. */
export interface TransportConnectorConfig {
  /** @default the uri, as in ActiveMQ */
  name: string;
  uri: string;
  /** Host, port and options; `scheme` is `stomp` for STOMP connectors and `tcp` for the others. */
  endpoint: EndpointUri;
  options: ConnectorOptions;
  /** @default 'native' for tcp:// and nio://, 'stomp' for stomp://, 'auto' for auto:// */
  protocol: WireKind;
  /** auto:// only: a connection that has not shown its protocol by then is closed. @default 10000 */
  protocolDetectionTimeoutMs?: number;
  /** e.g. `multicast://default`: advertise this connector by multicast discovery. */
  discoveryUri?: string;
  /** ssl://, stomp+ssl://: TLS with the broker's `<sslContext>`. @default false */
  tls: boolean;
  /** TLS only (`?needClientAuth=true`): a client without a certificate the trustStore vouches for is refused. @default false */
  needClientAuth: boolean;
}

const SERVED: Record<string, WireKind> = {
  tcp: 'native',
  nio: 'native',
  stomp: 'stomp',
  'stomp+nio': 'stomp',
  auto: 'auto',
  'auto+nio': 'auto',
  ssl: 'native',
  'nio+ssl': 'native',
  'stomp+ssl': 'stomp',
  'stomp+nio+ssl': 'stomp',
};

/** Protocols ActiveMQ serves and ferrymq does not (yet): the connector is skipped with this reason. */
const SKIPPED: Record<string, string> = {
  amqp: 'ferrymq does not speak AMQP',
  mqtt: 'ferrymq does not speak MQTT',
  ws: 'ferrymq has no WebSocket transport',
  http: 'ferrymq has no HTTP transport',
  udp: 'ferrymq has no UDP transport',
  vm: 'ferrymq has no in-JVM (vm://) transport',
};
const TLS_PARTS = new Set(['ssl', 'wss', 'https']);

/** Options of ActiveMQ's transport servers that ferrymq accepts and ignores (a warning each); others are typos. */
const IGNORED_OPTIONS = new Set([
  'trace', 'daemon', 'useInactivityMonitor', 'soTimeout', 'soWriteTimeout', 'socketBufferSize', 'keepAlive', 'tcpNoDelay',
  'backlog', 'allowLinkStealing', 'updateClusterClients', 'rebalanceClusterClients', 'updateClusterClientsOnRemove',
  'updateClusterFilter', 'connectionTimeout', 'minmumWireFormatVersion', 'maximumConsumersAllowedPerConnection',
  'maximumProducersAllowedPerConnection', 'dynamicManagement', 'startLogging', 'ioBufferSize', 'diffServ',
  'typeOfService', 'useQueueForAccept', 'closeAsync', 'wantClientAuth', 'enabledProtocols', 'enabledCipherSuites',
]);
const USED_OPTIONS = new Set(['maximumConnections', 'wireFormat.maxFrameSize', 'wireFormat.maxInactivityDuration']);

export type TransportUri =
  | {
      kind: 'served';
      endpoint: EndpointUri;
      options: ConnectorOptions;
      protocol: WireKind;
      protocolDetectionTimeoutMs?: number;
      ignored: string[];
      tls: boolean;
      needClientAuth: boolean;
    }
  | { kind: 'skipped'; reason: string };

/**
 * Map a transportConnector URI onto what ferrymq serves. `ignored` lists the options accepted without effect.
 * @throws InvalidUriError for an unknown scheme, an unknown option or an invalid value
 */
export function transportFromUri(uri: string): TransportUri {
  const m = /^\s*([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri);
  const scheme = m?.[1]!.toLowerCase();
  const protocol = scheme === undefined ? undefined : SERVED[scheme];
  if (scheme !== undefined && protocol === undefined) {
    const parts = scheme.split('+');
    if (parts.some((p) => TLS_PARTS.has(p))) return { kind: 'skipped', reason: 'ferrymq serves TLS as ssl:// and stomp+ssl:// only' };
    const reason = SKIPPED[parts[0]!];
    if (reason !== undefined) return { kind: 'skipped', reason };
    throw new InvalidUriError(`unsupported scheme "${m![1]}" (expected tcp, nio, stomp, stomp+nio, auto or auto+nio)`);
  }
  // The endpoint parser knows tcp://, ssl:// and stomp://; nio and auto are the same socket server here.
  const tls = scheme !== undefined && scheme.split('+').includes('ssl');
  const rewritten = scheme === undefined ? uri : uri.trim().replace(/^[^:]+/, protocol === 'stomp' ? 'stomp' : tls ? 'ssl' : 'tcp');
  const parsed = parseEndpointUri(rewritten);
  const endpoint: EndpointUri = Object.freeze({ ...parsed, raw: uri });
  const used: Record<string, string> = {};
  const ignored: string[] = [];
  let detect: number | undefined;
  let needClientAuth = false;
  for (const [k, v] of Object.entries(endpoint.options)) {
    if (USED_OPTIONS.has(k)) used[k] = v;
    else if (tls && (k === 'needClientAuth' || k === 'transport.needClientAuth')) {
      if (v !== 'true' && v !== 'false') throw new InvalidUriError(`option ${k} must be true or false, got "${v}"`);
      needClientAuth = v === 'true';
    }
    else if (k === 'protocolDetectionTimeOut' && protocol === 'auto') {
      detect = /^\d{1,10}$/.test(v) ? Number(v) : NaN;
      if (!(detect >= 1 && detect <= 2_147_483_647)) {
        throw new InvalidUriError(`option ${k} must be an integer number of ms >= 1, got "${v}"`);
      }
    } else if (/^(transport|wireFormat|auto|stomp|mqtt|amqp|jms)\./.test(k) || IGNORED_OPTIONS.has(k)) ignored.push(k);
    else {
      const valid = [...USED_OPTIONS, ...(protocol === 'auto' ? ['protocolDetectionTimeOut'] : []), ...(tls ? ['needClientAuth'] : []), 'transport.*', 'wireFormat.*'];
      throw new InvalidUriError(`unknown option "${k}" (valid: ${valid.join(', ')})`);
    }
  }
  const options = connectorOptions({ ...endpoint, options: Object.freeze(used) });
  const out: TransportUri = { kind: 'served', endpoint, options, protocol: protocol!, ignored, tls, needClientAuth };
  if (protocol === 'auto') out.protocolDetectionTimeoutMs = detect ?? DEFAULT_PROTOCOL_DETECTION_TIMEOUT_MS;
  return out;
}

/** A served URI as a connector config; the options it ignores are one warning each under `where`. */
export function connectorFrom(ctx: Ctx, where: string, name: string, t: TransportUri & { kind: 'served' }): TransportConnectorConfig {
  for (const k of t.ignored) ctx.warn(`${where} option ${k} is not supported by ferrymq; ignored`);
  const tc: TransportConnectorConfig = {
    name, uri: t.endpoint.raw, endpoint: t.endpoint, options: t.options, protocol: t.protocol, tls: t.tls, needClientAuth: t.needClientAuth,
  };
  if (t.protocolDetectionTimeoutMs !== undefined) tc.protocolDetectionTimeoutMs = t.protocolDetectionTimeoutMs;
  return tc;
}

/** `<transportConnector name=… uri=… discoveryUri=…/>`; null when its protocol is skipped (with a warning). */
export function readTransport(ctx: Ctx, path: string, node: XNode): TransportConnectorConfig | null {
  const a = new Attrs(ctx, path, node, ['name', 'uri', 'discoveryUri']);
  const uri = a.uri('uri', transportFromUri);
  if (!uri) return ctx.fail(path, 'attribute uri is required, e.g. uri="tcp://127.0.0.1:61616"');
  const name = a.nonEmpty('name') ?? uri.raw;
  if (uri.value.kind === 'skipped') {
    ctx.warn(`${path} name="${name}" uri="${uri.raw}" is skipped: ${uri.value.reason}`);
    return null;
  }
  const disc = a.uri('discoveryUri', (u) => {
    const n = parseNetworkUri(u);
    if (n.kind !== 'multicast') throw new Error('discoveryUri must be multicast://<group>');
    return multicastOptions(n, u, true);
  });
  const tc = connectorFrom(ctx, `${path} uri="${uri.raw}"`, name, uri.value);
  if (disc) tc.discoveryUri = disc.raw;
  return tc;
}
