import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { FerryError } from '../errors.js';

/**
 * Checks a user name and password from `remote` (`host:port` of the HTTP client); the broker's authenticate hook
 * (security) can stand in for the `<webConsole user password/>` pair, and then counts and delays failures per
 * address like any login. Resolves true when they are valid.
 */
export type ConsoleAuthenticator = (user: string, password: string, remote: string | null) => boolean | Promise<boolean>;

/** Compared as hashes so that neither the length nor the content leaks through timing. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** The `<webConsole user=… password=…/>` pair as an authenticator. */
export function fixedCredentials(user: string, password: string): ConsoleAuthenticator {
  const u = digest(user);
  const p = digest(password);
  return (user2, password2) => {
    // Both compared every time, whatever the first says.
    const okUser = timingSafeEqual(u, digest(user2));
    const okPassword = timingSafeEqual(p, digest(password2));
    return okUser && okPassword;
  };
}

/** User and password of an `Authorization: Basic …` header, or null when there is none. */
export function basicCredentials(req: IncomingMessage): { user: string; password: string } | null {
  const h = req.headers.authorization;
  if (h === undefined) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
  if (m === null) throw new FerryError('FERRY_UNAUTHORIZED', 'Authorization header must be "Basic <base64 of user:password>"');
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) throw new FerryError('FERRY_UNAUTHORIZED', 'Authorization header: the decoded value has no ":" between user and password');
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

/**
 * The user of a read that may be done anonymously: null without an Authorization header, the user when it is
 * valid. @throws FerryError FERRY_UNAUTHORIZED for wrong credentials
 */
export async function optionalUser(req: IncomingMessage, auth: ConsoleAuthenticator | null): Promise<string | null> {
  if (auth === null || req.headers.authorization === undefined) return null;
  return requireUser(req, auth);
}

/**
 * Let a state-changing request through, or throw: 403 when the console has no credentials configured (actions
 * are off), 401 when they are missing or wrong. @returns the user name, for the log line of the action.
 */
export async function requireUser(req: IncomingMessage, auth: ConsoleAuthenticator | null): Promise<string> {
  if (auth === null) {
    throw new FerryError('FERRY_FORBIDDEN', 'actions are disabled: this console has no credentials; set <webConsole user="…" password="…"/> in the broker config');
  }
  const c = basicCredentials(req);
  if (c === null) throw new FerryError('FERRY_UNAUTHORIZED', 'this action needs credentials (HTTP basic auth: the <webConsole user password> of the broker config)');
  const remote = req.socket.remoteAddress === undefined ? null : `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  if (!(await auth(c.user, c.password, remote))) throw new FerryError('FERRY_UNAUTHORIZED', `wrong user or password for user ${JSON.stringify(c.user)}`);
  return c.user;
}
