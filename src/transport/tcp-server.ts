import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { SessionHost } from '../broker/session.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { encodeFrame } from '../protocol/codec.js';
import { endSocket } from './socket.js';
import { NativeConnection } from './native-connection.js';
import { TlsAcceptor, type TlsServerOptions } from './tls.js';
import type { ConnectorOptions, EndpointUri } from './uri.js';

/** One accepted socket's protocol handler, as the connector sees it. */
export interface ProtocolConnection {
  /** Close quietly (broker stopping). */
  close(): void;
}

/** What a connector speaks (by URI scheme): a connection per socket, and a refusal in its own framing. */
export interface WireProtocol {
  open(socket: Socket, broker: SessionHost, options: ConnectorOptions, logger: Logger, onClosed: (c: ProtocolConnection) => void): ProtocolConnection;
  /** The bytes a refused socket (maximumConnections; `code`: another reason) is sent before it is closed. */
  refusal(message: string, code?: ErrorCode): Uint8Array;
  /** Refuse a socket itself (auto://: in the framing its first bytes show); default: send `refusal` and close. */
  refuse?(socket: Socket, broker: SessionHost, options: ConnectorOptions, logger: Logger, message: string): void;
}

/** ferrymq's native protocol (`tcp://`). */
export const NATIVE_PROTOCOL: WireProtocol = {
  open: (socket, broker, options, logger, onClosed) => new NativeConnection(socket, broker, options, logger, onClosed),
  refusal: (message, code) => encodeFrame({ t: 'ERROR', code: code ?? 'FERRY_TOO_MANY_CONNECTIONS', message, fatal: true }),
};

/**
 * A transport connector (`<transportConnector name=… uri="tcp://host:port?…"/>`): accepts sockets, enforces
 * maximumConnections, and hands each socket to a protocol connection.
 */
export class TcpTransportServer {
  private server: Server | null = null;
  private readonly conns = new Set<ProtocolConnection>();
  private readonly log: Logger;
  private refused = 0;
  private lastRefusalLog = 0;
  private readonly tls: TlsAcceptor | null;

  constructor(
    readonly name: string,
    private readonly endpoint: EndpointUri,
    private readonly options: ConnectorOptions,
    private readonly broker: SessionHost,
    logger: Logger,
    private readonly protocol: WireProtocol = NATIVE_PROTOCOL,
    /** ssl:// and stomp+ssl://: the connector's key material. */
    tls: TlsServerOptions | null = null,
  ) {
    this.log = logger.child({ module: 'transport', connector: name });
    this.tls = tls === null ? null : new TlsAcceptor(() => this.url, tls, this.log, (s) => this.open(s), (s, message, code) => {
      endSocket(s, this.protocol.refusal(message, code));
    });
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** The port actually bound (the configured one, or the kernel's choice for port 0). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? this.endpoint.port;
  }

  /** The URI clients use to reach this connector. */
  get url(): string {
    const host = this.endpoint.host.includes(':') ? `[${this.endpoint.host}]` : this.endpoint.host;
    const scheme = this.tls !== null && this.endpoint.scheme === 'stomp' ? 'stomp+ssl' : this.endpoint.scheme;
    return `${scheme}://${host}:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.endpoint.host, port: this.endpoint.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'server error'));
    this.server = server;
    this.log.info(
      { url: this.url, maximumConnections: this.options.maximumConnections, maxFrameSize: this.options.maxFrameSize, tls: this.tls !== null },
      'transport connector %s listening on %s',
      this.name,
      this.url,
    );
  }

  /** Stop accepting and close every connection. Idempotent. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.tls?.close();
    for (const c of [...this.conns]) c.close();
    await closed;
  }

  private accept(socket: Socket): void {
    if (this.tls !== null) this.tls.accept(socket);
    else this.open(socket);
  }

  /** A socket ready for the protocol: at once for tcp://, once its handshake is done for ssl://. */
  private open(socket: Socket): void {
    if (this.server === null) return void socket.destroy(); // a handshake that finished after stop()
    // Counted here rather than at accept: refused before its handshake, a TLS client would read the refusal as a
    // failed handshake; refused after it, the client reads why, as over tcp://.
    if (this.conns.size >= this.options.maximumConnections) return this.refuse(socket);
    const conn = this.protocol.open(socket, this.broker, this.options, this.log, (c) => this.conns.delete(c));
    this.conns.add(conn);
  }

  private refuse(socket: Socket): void {
    this.refused++;
    const now = Date.now();
    // One line per second at most: a connection storm must not become a log storm.
    if (now - this.lastRefusalLog > 1000) {
      this.lastRefusalLog = now;
      this.log.warn(
        { refused: this.refused, remote: socket.remoteAddress },
        'connection refused: maximumConnections=%d reached',
        this.options.maximumConnections,
      );
    }
    const message = `connector ${this.name} has reached maximumConnections=${this.options.maximumConnections}`;
    if (this.protocol.refuse) return this.protocol.refuse(socket, this.broker, this.options, this.log, message);
    socket.on('error', () => {});
    endSocket(socket, this.protocol.refusal(message));
  }
}
