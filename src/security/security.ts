/**
 * The broker's security from its config: the authenticate and authorize hooks of `<plugins>`, the web console's
 * login over the same users, and the TLS key material of `<sslContext>` for connectors and bridges.
 */
import { readFileSync } from 'node:fs';
import type { BrokerHooks, Principal } from '../broker/hooks.js';
import type { SecurityConfig, SslContextConfig } from '../config/config.js';
import { FerryError } from '../errors.js';
import type { Logger } from '../log.js';
import type { TlsClientOptions, TlsServerOptions } from '../transport/tls.js';
import { type GroupPrincipal, SimpleAuthentication } from './authentication.js';
import { AuthorizationMap } from './authorization.js';

export interface BrokerSecurity {
  hooks: BrokerHooks;
  /** The web console's login: the plugin's users (null without `<simpleAuthenticationPlugin>`). */
  console: ((user: string, password: string, remote: string | null) => Promise<boolean>) | null;
  authentication: SimpleAuthentication | null;
}

/** Everyone is this when only `<authorizationPlugin>` is configured. */
const ANONYMOUS: GroupPrincipal = Object.freeze({ user: 'anonymous', groups: new Set(['anonymous']) });

/** Hooks for the config's security plugins; null when it has none (everything allowed, nothing asked). */
export function brokerSecurity(config: SecurityConfig, logger: Logger): BrokerSecurity | null {
  if (config.authentication === null && config.authorization === null) return null;
  const authn = config.authentication === null ? null : new SimpleAuthentication(config.authentication, logger);
  const groupsOf = (p: Principal): ReadonlySet<string> => {
    const g = p['groups'];
    if (g instanceof Set) return g as ReadonlySet<string>;
    return authn === null ? ANONYMOUS.groups : authn.groupsOf(p.user);
  };
  const hooks: BrokerHooks = {
    authenticate: authn !== null ? authn.authenticate : () => ANONYMOUS,
    authorize: config.authorization === null ? undefined : new AuthorizationMap(config.authorization, groupsOf).authorize,
  };
  // A console login is a login like any other: the same users, the same per-address delay after failures, and each
  // refusal logged with the address (the broker logs its own connections' refusals; here nobody else would).
  const log = logger.child({ module: 'console' });
  const console =
    authn === null
      ? null
      : async (user: string, password: string, remote: string | null) => {
          const ok = (await authn.authenticate({ user, password, clientId: null, remote, protocol: 'console' })) !== false;
          if (!ok) log.info({ remote, user }, 'console login failed for user %s from %s', user, remote ?? 'an unknown address');
          return ok;
        };
  return { hooks, console, authentication: authn };
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new FerryError('FERRY_CONFIG', `<sslContext> ${what} ${path}: cannot read: ${(err as Error).message}`, { cause: err });
  }
}

/** The key material of ssl:// connectors. @throws FerryError FERRY_CONFIG when a file cannot be read */
export function tlsServerOptions(ssl: SslContextConfig, needClientAuth: boolean): TlsServerOptions {
  if (ssl.keyStore === null) throw new FerryError('FERRY_CONFIG', '<sslContext> has no keyStore: a TLS connector needs one');
  const cert = read(ssl.keyStore, 'keyStore');
  const out: TlsServerOptions = { cert, key: ssl.keyFile !== null ? read(ssl.keyFile, 'keyFile') : cert, needClientAuth };
  if (ssl.trustStore !== null) out.ca = read(ssl.trustStore, 'trustStore');
  if (ssl.keyStorePassword !== undefined) out.passphrase = ssl.keyStorePassword;
  return out;
}

/** What bridges present and trust when they dial ssl:// peers (ActiveMQ uses the broker's sslContext there too). */
export function tlsClientOptions(ssl: SslContextConfig | null): TlsClientOptions | undefined {
  if (ssl === null) return undefined;
  const out: TlsClientOptions = {};
  if (ssl.keyStore !== null) {
    out.cert = read(ssl.keyStore, 'keyStore');
    out.key = ssl.keyFile !== null ? read(ssl.keyFile, 'keyFile') : out.cert;
  }
  if (ssl.trustStore !== null) out.ca = read(ssl.trustStore, 'trustStore');
  if (ssl.keyStorePassword !== undefined) out.passphrase = ssl.keyStorePassword;
  return out;
}
