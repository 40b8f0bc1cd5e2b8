/**
 * TLS for ssl:// and stomp+ssl:// (node:tls): the connector side (a TLS server fed the sockets the connector
 * accepts, after a look at their first byte so a plain client gets an answer it can read), and the client side's
 * options and error wording. Certificates are PEM; where they come from is the config's business.
 */
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { type ConnectionOptions, createServer, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import type { EndpointUri } from './uri.js';

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
/** A socket that has sent nothing, or not finished its handshake, by then is closed. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Turns accepted sockets into TLS sockets. A socket whose first byte is not a TLS handshake is a plain client on a
 * TLS port: `refuse` answers it in the connector's own framing (it can read that) and the broker goes on.
 */
export class TlsAcceptor {
  private readonly server: Server;
  private readonly pending = new Set<Socket>();
  private lastLog = 0;
  private quiet = 0;

  constructor(
    private readonly url: () => string,
    opts: TlsServerOptions,
    private readonly log: Logger,
    onSecure: (socket: TLSSocket) => void,
    private readonly refuse: (socket: Socket, message: string) => void,
  ) {
    this.server = createServer({
      cert: opts.cert,
      key: opts.key,
      ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      requestCert: opts.needClientAuth,
      rejectUnauthorized: opts.needClientAuth,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    this.server.on('secureConnection', (s: TLSSocket) => {
      this.pending.delete(s as unknown as Socket);
      onSecure(s);
    });
    this.server.on('tlsClientError', (err: Error & { code?: string }, s: TLSSocket) => {
      this.warn({ remote: s.remoteAddress, code: err.code }, 'TLS handshake with %s failed: %s', s.remoteAddress, tlsReason(err));
    });
  }

  accept(socket: Socket): void {
    this.pending.add(socket);
    socket.once('close', () => this.pending.delete(socket));
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
      this.pending.delete(socket);
      this.warn({ remote: socket.remoteAddress }, 'plain (non-TLS) connection from %s on TLS connector %s: refused', socket.remoteAddress, this.url());
      this.refuse(socket, `${this.url()} speaks TLS: connect with ${this.url()} (ssl://), not tcp://`);
    });
  }

  /** Drop sockets still in their handshake (the connector is stopping). */
  close(): void {
    for (const s of this.pending) s.destroy();
    this.pending.clear();
  }

  /** One line a second at most: a scanner must not become a log storm. */
  private warn(fields: Record<string, unknown>, msg: string, ...args: unknown[]): void {
    const now = Date.now();
    if (now - this.lastLog < 1000) {
      this.quiet++;
      return;
    }
    this.lastLog = now;
    this.log.warn({ ...fields, alsoSinceLastLine: this.quiet }, msg, ...args);
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
