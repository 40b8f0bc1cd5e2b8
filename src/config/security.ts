/**
 * The security parts of activemq.xml: `<plugins>` (`<simpleAuthenticationPlugin>`, `<authorizationPlugin>`) and
 * `<sslContext>`. Only data here; src/security turns it into the broker's hooks and TLS contexts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TransportConnectorConfig } from './transports.js';
import { Attrs, type Ctx, children, type XNode } from './xml.js';

/** One `<authenticationUser username password groups/>`. */
export interface AuthenticationUserConfig {
  username: string;
  /**
   * Plain text, or a hash made by `ferrymq passwd`: `scrypt:N:r:p:<salt base64>:<hash base64>`. Not enumerable,
   * so a config printed or logged as JSON never shows it.
   */
  readonly password: string;
  groups: string[];
}

/** `<simpleAuthenticationPlugin>`. */
export interface AuthenticationConfig {
  users: AuthenticationUserConfig[];
  /** A CONNECT without a user name is let in as `anonymousUser` in `anonymousGroup`. @default false once a user is configured */
  anonymousAccessAllowed: boolean;
  /** @default 'anonymous' */
  anonymousUser: string;
  /** @default 'anonymous' */
  anonymousGroup: string;
}

/** One `<authorizationEntry queue|topic="PATTERN" read write admin/>`: groups per operation. */
export interface AuthorizationEntryConfig {
  /** Canonical names with wildcards: `queue://ORDERS.>`; a comma list in the attribute gives several. */
  dests: string[];
  read: string[];
  write: string[];
  admin: string[];
}

/** `<authorizationPlugin><map><authorizationMap>`. */
export interface AuthorizationConfig {
  entries: AuthorizationEntryConfig[];
  /** `<defaultEntry>`: for destinations no entry matches. Without it they are refused (as in ActiveMQ). */
  defaultEntry: AuthorizationEntryConfig | null;
  /** `<tempDestinationAuthorizationEntry>`: temporary queues. Without it any connected user may use its own. */
  tempEntry: AuthorizationEntryConfig | null;
}

export interface SecurityConfig {
  authentication: AuthenticationConfig | null;
  authorization: AuthorizationConfig | null;
}

/**
 * `<sslContext><sslContext keyStore trustStore …/></sslContext>` with PEM files instead of Java keystores: what
 * ssl:// connectors present and trust, and what bridges present and trust when they dial ssl:// peers.
 */
export interface SslContextConfig {
  /** PEM with this broker's certificate (chain) and private key, in one file or with `keyFile` apart. */
  keyStore: string | null;
  /** PEM private key, when `keyStore` holds only the certificate. */
  keyFile: string | null;
  /** Passphrase of an encrypted private key. Not enumerable. */
  readonly keyStorePassword?: string;
  /** PEM with the CA certificates to trust (client certificates, and peers bridges dial). Without it: Node's own CAs. */
  trustStore: string | null;
}

const SECURITY_PLUGINS = ['simpleAuthenticationPlugin', 'authorizationPlugin'];

/** `<plugins>`: the two security plugins ferrymq runs; every other plugin is a warning. */
export function readPlugins(ctx: Ctx, path: string, node: XNode, out: SecurityConfig): void {
  for (const [name, list] of children(node)) {
    const p = `${path}<${name}>`;
    if (SECURITY_PLUGINS.includes(name) && list.length > 1) ctx.fail(p, 'may appear only once');
    if (name === 'simpleAuthenticationPlugin') out.authentication = readAuthentication(ctx, p, list[0]!);
    else if (name === 'authorizationPlugin') out.authorization = readAuthorization(ctx, p, list[0]!);
    else if (/authentication|jaas/i.test(name)) {
      ctx.warn(`${p} is ignored: ferrymq authenticates with <simpleAuthenticationPlugin> only; without it every client is let in`);
    } else if (/authorization|security/i.test(name)) {
      ctx.warn(`${p} is ignored: ferrymq authorizes with <authorizationPlugin><map><authorizationMap> only`);
    } else ctx.warn(`${p} is ignored: ferrymq does not support broker plugins`);
  }
  if (out.authorization !== null && out.authentication === null) {
    ctx.warn(`${path}<authorizationPlugin> without <simpleAuthenticationPlugin>: every client is anonymous (group "anonymous")`);
  }
}

function readAuthentication(ctx: Ctx, path: string, node: XNode): AuthenticationConfig {
  const a = new Attrs(ctx, path, node, ['anonymousAccessAllowed', 'anonymousUser', 'anonymousGroup']);
  const users: AuthenticationUserConfig[] = [];
  for (const [name, list] of children(node)) {
    if (name !== 'users') {
      ctx.warn(`${path}<${name}> is not supported by ferrymq; ignored`);
      continue;
    }
    for (const usersNode of list) {
      for (const [un, ul] of children(usersNode)) {
        const up = `${path}<users><${un}>`;
        if (un !== 'authenticationUser') ctx.fail(up, 'expected <authenticationUser username="…" password="…" groups="…"/>');
        for (const u of ul) users.push(readUser(ctx, up, u, users));
      }
    }
  }
  return {
    users,
    // ActiveMQ's default is false; with no user at all, refusing everyone would be a broker nobody can use.
    anonymousAccessAllowed: a.bool('anonymousAccessAllowed', users.length === 0),
    anonymousUser: a.nonEmpty('anonymousUser') ?? 'anonymous',
    anonymousGroup: a.nonEmpty('anonymousGroup') ?? 'anonymous',
  };
}

function readUser(ctx: Ctx, path: string, node: XNode, seen: AuthenticationUserConfig[]): AuthenticationUserConfig {
  const a = new Attrs(ctx, path, node, ['username', 'password', 'groups']);
  const username = a.nonEmpty('username');
  if (username === undefined) return ctx.fail(path, 'attribute username is required');
  const where = `${path} username="${username}"`;
  if (seen.some((u) => u.username === username)) ctx.fail(where, 'the user is given twice');
  // Never quoted in an error: the value is a secret.
  const password = a.str('password');
  if (password === undefined || password === '') return ctx.fail(where, 'attribute password is required (plain, or a hash from `ferrymq passwd`)');
  if (password.startsWith('scrypt:') && !/^scrypt:\d+:\d+:\d+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/.test(password)) {
    ctx.fail(where, 'attribute password looks like a scrypt hash but is not one (expected scrypt:N:r:p:<salt>:<hash>, as `ferrymq passwd` prints)');
  }
  const user: AuthenticationUserConfig = { username, password: '', groups: groupList(a.str('groups')) };
  Object.defineProperty(user, 'password', { value: password, enumerable: false });
  return user;
}

function groupList(v: string | undefined): string[] {
  return (v ?? '').split(',').map((g) => g.trim()).filter((g) => g !== '');
}

function readAuthorization(ctx: Ctx, path: string, node: XNode): AuthorizationConfig {
  new Attrs(ctx, path, node, []);
  const out: AuthorizationConfig = { entries: [], defaultEntry: null, tempEntry: null };
  let maps = 0;
  for (const [name, list] of children(node)) {
    if (name !== 'map') {
      ctx.warn(`${path}<${name}> is not supported by ferrymq; ignored`);
      continue;
    }
    for (const m of list) {
      for (const [mn, ml] of children(m)) {
        const mp = `${path}<map><${mn}>`;
        if (mn !== 'authorizationMap') ctx.fail(mp, 'expected <authorizationMap> (the only map ferrymq reads)');
        for (const am of ml) {
          maps++;
          readMap(ctx, mp, am, out);
        }
      }
    }
  }
  if (maps === 0) ctx.fail(path, 'needs <map><authorizationMap><authorizationEntries>…');
  return out;
}

function readMap(ctx: Ctx, path: string, node: XNode, out: AuthorizationConfig): void {
  for (const [name, list] of children(node)) {
    const p = `${path}<${name}>`;
    for (const n of list) {
      const entries = children(n).flatMap(([en, el]) => {
        if (en !== 'authorizationEntry' && en !== 'tempDestinationAuthorizationEntry') ctx.fail(`${p}<${en}>`, 'expected <authorizationEntry …/>');
        return el.map((e) => ({ e, ep: `${p}<${en}>` }));
      });
      if (name === 'authorizationEntries') {
        for (const { e, ep } of entries) out.entries.push(readEntry(ctx, ep, e, true));
      } else if (name === 'defaultEntry' || name === 'tempDestinationAuthorizationEntry') {
        if (entries.length !== 1) ctx.fail(p, 'needs exactly one entry inside');
        const entry = readEntry(ctx, entries[0]!.ep, entries[0]!.e, false);
        if (name === 'defaultEntry') out.defaultEntry = entry;
        else out.tempEntry = entry;
      } else ctx.warn(`${p} is not supported by ferrymq; ignored`);
    }
  }
}

function readEntry(ctx: Ctx, path: string, node: XNode, named: boolean): AuthorizationEntryConfig {
  const a = new Attrs(ctx, path, node, ['queue', 'topic', 'read', 'write', 'admin']);
  const queue = a.nonEmpty('queue');
  const topic = a.nonEmpty('topic');
  if (named && (queue === undefined) === (topic === undefined)) ctx.fail(path, 'needs one of queue="PATTERN" or topic="PATTERN"');
  const pattern = (queue ?? topic ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const kind = queue !== undefined ? 'queue' : 'topic';
  return { dests: pattern.map((s) => `${kind}://${s}`), read: groupList(a.str('read')), write: groupList(a.str('write')), admin: groupList(a.str('admin')) };
}

/** Java keystores cannot be read by Node: the user converts them once (see README, TLS). */
const JAVA_KEYSTORE = /\.(jks|ks|keystore|truststore|ts|p12|pfx)$/i;

/**
 * `<sslContext><sslContext keyStore keyFile keyStorePassword trustStore/></sslContext>`. A Java keystore gives
 * `skip` (why): the broker then starts with its ssl:// connectors skipped, with a warning, rather than not at all.
 */
export function readSslContext(ctx: Ctx, path: string, node: XNode): SslContextConfig | { skip: string } {
  const inner = children(node);
  if (inner.length !== 1 || inner[0]![0] !== 'sslContext' || inner[0]![1].length !== 1) {
    ctx.fail(path, 'expected one <sslContext keyStore="broker.pem" trustStore="ca.pem"/> inside');
  }
  const p = `${path}<sslContext>`;
  const a = new Attrs(ctx, p, inner[0]![1][0]!, ['keyStore', 'keyFile', 'keyStorePassword', 'trustStore', 'trustStorePassword']);
  const file = (attr: string): string | null => {
    const v = a.nonEmpty(attr)?.replace(/^file:/, '');
    if (v === undefined) return null;
    const abs = resolve(ctx.cwd, v);
    if (JAVA_KEYSTORE.test(v)) return 'java';
    if (!existsSync(abs)) ctx.failAttr(p, attr, v, `no such file (${abs})`);
    if (!readFileSync(abs, 'latin1').includes('-----BEGIN ')) ctx.failAttr(p, attr, v, 'not a PEM file (expected -----BEGIN …-----)');
    return abs;
  };
  const keyStore = file('keyStore');
  const keyFile = file('keyFile');
  const trustStore = file('trustStore');
  if (keyStore !== null && keyStore !== 'java' && keyFile === null && !readFileSync(keyStore, 'latin1').includes('PRIVATE KEY-----')) {
    ctx.failAttr(p, 'keyStore', a.str('keyStore')!, 'holds no private key: put it in the same PEM file (cat broker.crt broker.key), or name it with keyFile');
  }
  if ([keyStore, keyFile, trustStore].includes('java')) {
    return { skip: `${p} names a Java keystore and ferrymq reads PEM files (convert it with keytool -importkeystore to PKCS12, then openssl pkcs12 -nodes)` };
  }
  if (a.str('trustStorePassword') !== undefined) ctx.warn(`${p} attribute trustStorePassword is not needed for a PEM trustStore; ignored`);
  const out: SslContextConfig = { keyStore, keyFile, trustStore };
  const pass = a.str('keyStorePassword');
  if (pass !== undefined) Object.defineProperty(out, 'keyStorePassword', { value: pass, enumerable: false });
  return out;
}

/** ssl:// connectors need a PEM `<sslContext>`; with a Java keystore there they are skipped (a warning each). */
export function tlsConnectors(ctx: Ctx, transports: TransportConnectorConfig[], ssl: SslContextConfig | { skip: string } | null): TransportConnectorConfig[] {
  return transports.filter((t) => {
    if (!t.tls) return true;
    if (ssl !== null && 'skip' in ssl) {
      ctx.warn(`<transportConnector name="${t.name}" uri="${t.uri}"> is skipped: ${ssl.skip}`);
      return false;
    }
    if (ssl?.keyStore == null) {
      ctx.warn(`<transportConnector name="${t.name}" uri="${t.uri}"> is skipped: a TLS connector needs <sslContext><sslContext keyStore="broker.pem" …/></sslContext> in <broker>`);
      return false;
    }
    if (t.needClientAuth && ssl.trustStore === null) {
      ctx.fail(`<transportConnector name="${t.name}" uri="${t.uri}">`, 'needClientAuth=true needs <sslContext trustStore="ca.pem"> to check client certificates against');
    }
    return true;
  });
}
