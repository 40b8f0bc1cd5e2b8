import { connect as netConnect, type Socket } from 'node:net';
import { ConnectionClosedError, errorFromCode, type FerryError, ProtocolError, TimeoutError } from '../errors.js';
import type { BrokerCommand, ConnectCmd, ConnectedCmd } from '../protocol/commands.js';
import { PROTOCOL_VERSIONS } from '../protocol/commands.js';
import { decodeBody } from '../protocol/codec.js';
import { decodeMessage } from '../protocol/hot-decode.js';
import { decodePlainMessage } from '../protocol/hot-message.js';
import { decodeReceipt } from '../protocol/hot-receipt.js';
import { FrameDecoder } from '../protocol/frame.js';
import { InactivityMonitor, nativeInactivity } from '../transport/inactivity.js';
import { nodeTls, type TlsClientOptions, tlsConnectOptions, tlsReason } from '../transport/tls.js';
import type { EndpointUri } from '../transport/uri.js';
import { FrameWriter } from '../transport/writer.js';

/** Largest frame a client accepts from a broker (the broker has no reason to send more). */
const CLIENT_MAX_INBOUND_FRAME = 0xffffffff;

export interface TransportHandlers {
  onCommand(cmd: BrokerCommand): void;
  /** The socket closed or failed; called once. */
  onClose(err: FerryError): void;
}

/**
 * One socket to one broker, after a successful CONNECT/CONNECTED exchange. The failover logic above it
 * replaces a dead transport with a new one.
 */
export class ClientTransport {
  readonly writer: FrameWriter;
  private readonly monitor = new InactivityMonitor();
  private closed = false;
  private handlers: TransportHandlers | null = null;

  private constructor(
    readonly socket: Socket,
    readonly endpoint: EndpointUri,
    readonly connected: ConnectedCmd,
    private readonly decoder: FrameDecoder,
  ) {
    this.writer = new FrameWriter(socket);
  }

  get url(): string {
    return `${this.endpoint.scheme}://${this.endpoint.host.includes(':') ? `[${this.endpoint.host}]` : this.endpoint.host}:${this.endpoint.port}`;
  }

  /**
   * Dial (ssl://: with TLS), send CONNECT, wait for CONNECTED. Rejects with the broker's ERROR (e.g. too many
   * connections), or a ConnectionClosedError saying why the TLS handshake failed.
   */
  static open(endpoint: EndpointUri, connect: Omit<ConnectCmd, 't' | 'v'>, timeoutMs: number, tls?: TlsClientOptions): Promise<ClientTransport> {
    return new Promise((resolve, reject) => {
      const secure = endpoint.scheme === 'ssl';
      const socket: Socket = secure ? nodeTls().connect(tlsConnectOptions(endpoint, tls)) : netConnect({ host: endpoint.host, port: endpoint.port, noDelay: true });
      if (secure) socket.setNoDelay(true);
      const decoder = new FrameDecoder(CLIENT_MAX_INBOUND_FRAME);
      let done = false;
      const finish = (err: Error | null, t?: ClientTransport): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.off('data', onData);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve(t!);
      };
      const timer = setTimeout(
        () => finish(new TimeoutError(`no CONNECTED from ${endpoint.raw} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer): void => {
        try {
          decoder.push(chunk, (body) => {
            if (done) return;
            const cmd = decodeBody(body) as BrokerCommand;
            if (cmd.t === 'CONNECTED') {
              const t = new ClientTransport(socket, endpoint, cmd, decoder);
              finish(null, t);
            } else if (cmd.t === 'ERROR') finish(errorFromCode(cmd.code, cmd.message));
            else finish(new ProtocolError('FERRY_PROTOCOL', `expected CONNECTED, got ${String(cmd.t)}`));
          });
        } catch (err) {
          finish(err as Error);
        }
      };
      socket.on('data', onData);
      socket.once('error', (err) => {
        const why = secure && (err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' ? `TLS: ${tlsReason(err)}` : err.message;
        finish(new ConnectionClosedError(`cannot connect to ${endpoint.raw}: ${why}`, { cause: err }));
      });
      socket.once('close', () => finish(new ConnectionClosedError(`connection to ${endpoint.raw} closed during handshake`)));
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        const w = new FrameWriter(socket);
        w.write({ t: 'CONNECT', v: [...PROTOCOL_VERSIONS], ...connect });
        w.flush();
      });
    });
  }

  /** Start reading commands (after the owner has set itself up). */
  attach(handlers: TransportHandlers): void {
    this.handlers = handlers;
    const s = this.socket;
    // Deliveries and receipts in their plain shape are read straight off the chunk, without a view of the frame;
    // other shapes by hot-decode.ts's reader, the rest through msgpackr.
    const onSpan = (buf: Buffer, start: number, end: number): void => {
      if (this.closed) return;
      let cmd: BrokerCommand | undefined = decodePlainMessage(buf, start, end) ?? decodeReceipt(buf, start, end);
      if (cmd === undefined) {
        const body = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
        cmd = decodeMessage(body) ?? (decodeBody(body) as BrokerCommand);
      }
      handlers.onCommand(cmd);
    };
    s.on('data', (chunk: Buffer) => {
      this.monitor.lastRead = Date.now();
      try {
        this.decoder.pushSpans(chunk, onSpan);
      } catch (err) {
        this.fail(err as FerryError);
      }
    });
    s.on('error', (err) => this.fail(new ConnectionClosedError(`connection to ${this.url} failed: ${err.message}`, { cause: err })));
    s.on('close', () => this.fail(new ConnectionClosedError(`connection to ${this.url} closed`)));
    const hb = this.connected.heartbeat;
    this.monitor.start({
      ...nativeInactivity(hb),
      lastWrite: () => this.writer.lastWrite,
      keepAlive: () => this.writer.write({ t: 'PING' }),
      dead: (silent) => this.fail(new ConnectionClosedError(`broker ${this.url} silent for ${silent} ms (inactivity duration ${hb} ms)`)),
    });
  }

  /** Close the socket; `onClose` is not called for a close asked for here. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.monitor.stop();
    this.writer.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private fail(err: FerryError): void {
    if (this.closed) return;
    this.closed = true;
    this.monitor.stop();
    this.socket.destroy();
    this.handlers?.onClose(err);
  }
}
