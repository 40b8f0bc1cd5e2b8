/**
 * TLS for ssl:// and stomp+ssl:// (node:tls): the connector side (a TLS server fed the sockets the connector
 * accepts, after a look at their first byte so a plain client gets an answer it can read), and the client side's
 * options and error wording. Certificates are PEM; where they come from is the config's business.
 */
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import type { ConnectionOptions, Server, TLSSocket } from 'node:tls';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { EndpointUri } from './uri.js';

/**
 * node:tls (with the crypto it pulls in) costs a launch ~15 ms and most brokers and clients never use it: it is loaded
 * by the first ssl:// connector or connection.
 */
export const nodeTls = (): typeof import('node:tls') => process.getBuiltinModule('node:tls');

/** A connector's key material and client-certificate policy. */
export interface TlsServerOptions {
  /** PEM: this broker's certificate chain. */
  cert: Buffer;
  /** PEM private key (may be the same file as `cert`). */
  key: Buffer;
  /** Passphrase of an encrypted key. */
  passphrase?: string;
  /** PEM CA certificates client certificates must chain to. */
  ca?: Buffer;
  /** Refuse clients without a certificate `ca` vouches for. @default false */
  needClientAuth: boolean;
}

/** What a client presents and trusts on ssl:// (the `--ca` of the CLI, a bridge's broker certificate). */
export interface TlsClientOptions {
  /** PEM CA certificates to trust besides Node's own (which include NODE_EXTRA_CA_CERTS). */
  ca?: string | Buffer;
  /** PEM client certificate, for a connector with needClientAuth. */
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
}

/** The first byte of every TLS handshake (a TLS record of type handshake). */
const TLS_HANDSHAKE_RECORD = 0x16;
/** Handshake failures logged per window; the ones past it are counted on the next line logged. */
const LOG_BURST = 10;
const LOG_WINDOW_MS = 10_000;
/** A socket that has sent nothing, or not finished its handshake, by then is closed. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Answers a socket in the connector's own framing (the peer can read that), then closes it. */
export type Refuse = (socket: Socket, message: string, code: ErrorCode) => void;

/**
 * Turns accepted sockets into TLS sockets. A socket whose first byte is not a TLS handshake is a plain client on a
 * TLS port: `refuse` answers it in the connector's own framing (it can read that) and the broker goes on. With
 * needClientAuth a client without a trusted certificate completes the handshake and is then refused the same way,
 * over TLS, so it reads why instead of seeing the socket drop.
 */
export class TlsAcceptor {
  private readonly server: Server;
  /** Accepted sockets not yet secured, by the address they came from (`host:port`; gone from a closed socket). */
  private readonly pending = new Map<string, Socket>();
  /** Why a handshake failed, by the failing socket's address, for the line logged when it closes. */
  private readonly failures = new Map<string, string>();
  private windowStart = 0;
  private logged = 0;
  private quiet = 0;

  constructor(
    private readonly url: () => string,
    private readonly opts: TlsServerOptions,
    private readonly log: Logger,
    onSecure: (socket: TLSSocket) => void,
    private readonly refuse: Refuse,
  ) {
    this.server = nodeTls().createServer({
      cert: opts.cert,
      key: opts.key,
      ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      requestCert: opts.needClientAuth,
      // Checked in secureConnection instead, where the client can still be told why.
      rejectUnauthorized: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    this.server.on('secureConnection', (s: TLSSocket) => {
      this.pending.delete(`${s.remoteAddress}:${s.remotePort}`);
      if (this.opts.needClientAuth && !s.authorized) return this.refuseClient(s);
      onSecure(s);
    });
    this.server.on('tlsClientError', (err: Error & { code?: string }, s: TLSSocket) => {
      this.failures.set(`${s.remoteAddress}:${s.remotePort}`, tlsReason(err));
    });
  }

  accept(socket: Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.pending.set(remote, socket);
    socket.once('close', () => {
      if (this.pending.get(remote) !== socket) return;
      this.pending.delete(remote);
      // The TLS layer reports its failure (if it saw one) around the same moment: read it on the next turn.
      setImmediate(() => {
        // A client that does not trust this broker's certificate just hangs up: it is told why; the broker cannot be.
        const why = this.failures.get(remote) ?? "the client hung up during the handshake (does it trust this broker's certificate?)";
        this.failures.delete(remote);
        this.warn({ remote }, 'TLS handshake with %s failed: %s', remote.slice(0, remote.lastIndexOf(':')), why);
      });
    });
    socket.on('error', () => {}); // a reset during the handshake is the tlsClientError above, or nothing
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.setTimeout(0);
      if (chunk[0] === TLS_HANDSHAKE_RECORD) {
        socket.unshift(chunk);
        this.server.emit('connection', socket);
        return;
      }
      this.pending.delete(remote);
      this.warn({ remote: socket.remoteAddress }, 'plain (non-TLS) connection from %s on TLS connector %s: refused', socket.remoteAddress, this.url());
      this.refuse(socket, `${this.url()} speaks TLS: connect with ${this.url()}, not in plain text`, 'FERRY_PROTOCOL');
    });
  }

  /** needClientAuth: a client whose certificate is missing or not vouched for by the trustStore. */
  private refuseClient(s: TLSSocket): void {
    const none = Object.keys(s.getPeerCertificate()).length === 0;
    const why = none
      ? 'a client certificate is required (needClientAuth) and none was given'
      : `the client certificate is not trusted (${String(s.authorizationError)}): its CA is not in the broker's trustStore`;
    this.warn({ remote: s.remoteAddress }, 'TLS client %s refused: %s', s.remoteAddress, why);
    this.refuse(s as unknown as Socket, `${this.url()}: ${why}`, 'FERRY_AUTHENTICATION_FAILED');
  }

  /** Drop sockets still in their handshake (the connector is stopping). */
  close(): void {
    for (const s of this.pending.values()) s.destroy();
    this.pending.clear();
    this.failures.clear();
  }

  /** At most LOG_BURST lines per LOG_WINDOW_MS: a scanner must not become a log storm. */
  private warn(fields: Record<string, unknown>, msg: string, ...args: unknown[]): void {
    const now = Date.now();
    if (now - this.windowStart >= LOG_WINDOW_MS) {
      this.windowStart = now;
      this.logged = 0;
    }
    if (++this.logged > LOG_BURST) {
      this.quiet++;
      return;
    }
    this.log.warn(this.quiet > 0 ? { ...fields, notLogged: this.quiet } : fields, msg, ...args);
    this.quiet = 0;
  }
}

/** node:tls connect options for an ssl:// endpoint. `verifyHostName=false` on the URI skips the name check (ActiveMQ's option). */
export function tlsConnectOptions(ep: EndpointUri, tls: TlsClientOptions | undefined): ConnectionOptions {
  const verify = ep.options['verifyHostName'] ?? ep.options['socket.verifyHostName'];
  return {
    host: ep.host,
    port: ep.port,
    ...(isIP(ep.host) === 0 ? { servername: ep.host } : {}),
    ...(tls?.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls?.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls?.key !== undefined ? { key: tls.key } : {}),
    ...(tls?.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    ...(verify === 'false' ? { checkServerIdentity: () => undefined } : {}),
  };
}

const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);

/** A TLS failure in words a user can act on (either side), with OpenSSL's own text after it. */
export function tlsReason(err: Error & { code?: string }): string {
  const c = err.code ?? '';
  if (UNTRUSTED.has(c)) return `the peer's certificate is not trusted (${c}): give its CA (--ca FILE, NODE_EXTRA_CA_CERTS, or <sslContext trustStore>)`;
  if (c === 'CERT_HAS_EXPIRED' || c === 'CERT_NOT_YET_VALID') return `the peer's certificate is not valid now (${c})`;
  if (c === 'ERR_TLS_CERT_ALTNAME_INVALID') return `the peer's certificate is for another host: ${err.message} (or verifyHostName=false on the URI)`;
  if (/CERTIFICATE_REQUIRED|PEER_DID_NOT_RETURN_A_CERTIFICATE/i.test(c + err.message)) {
    return 'a client certificate is required (needClientAuth) and none was given';
  }
  if (/ALERT_UNKNOWN_CA|ALERT_BAD_CERTIFICATE|ALERT_HANDSHAKE_FAILURE|ALERT_CERTIFICATE_UNKNOWN/.test(c)) {
    return `the broker refused the TLS handshake (${c}): its trustStore does not vouch for this client's certificate, or it needs one`;
  }
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST|UNKNOWN_PROTOCOL/.test(c)) {
    return `the other side does not speak TLS on this port (${c}): use tcp:// there, or ssl:// on a TLS connector`;
  }
  return `${c !== '' ? `${c}: ` : ''}${err.message}`;
}
