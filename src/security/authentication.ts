/**
 * `<simpleAuthenticationPlugin>`: the broker's authenticate hook over the configured users. A CONNECT (native or
 * STOMP) with a user name must give that user's password; one with neither user nor password is anonymous, let in
 * only with `anonymousAccessAllowed`. Failures are logged with the remote address (never the password) and slow
 * down further attempts from that address (see throttle.ts).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Credentials, Principal } from '../broker/hooks.js';
import type { AuthenticationConfig, AuthenticationUserConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import { parseHash, verifyPassword } from './passwords.js';
import { addressOf, LoginThrottle, type LoginThrottleOptions } from './throttle.js';

/** What an authenticated session carries: its user and groups (the authorization map reads the groups). */
export interface GroupPrincipal extends Principal {
  readonly user: string;
  readonly groups: ReadonlySet<string>;
}

export class SimpleAuthentication {
  private readonly users = new Map<string, AuthenticationUserConfig>();
  /**
   * user -> keyed digest of the password last verified for it: a client reconnecting (a bridge, a failover client)
   * does not pay for scrypt again. The key lives only in this process.
   */
  private readonly verified = new Map<string, Buffer>();
  private readonly cacheKey = randomBytes(32);
  readonly throttle: LoginThrottle;
  private readonly log: Logger;

  constructor(
    private readonly config: AuthenticationConfig,
    logger: Logger,
    throttle: LoginThrottleOptions = {},
  ) {
    for (const u of config.users) {
      parseHash(u.password); // a malformed hash fails the start, not the first login
      this.users.set(u.username, u);
    }
    this.throttle = new LoginThrottle(throttle);
    this.log = logger.child({ module: 'security' });
  }

  /** The authenticate hook: a principal with the user's groups, or false. */
  readonly authenticate = async (c: Credentials): Promise<GroupPrincipal | false> => {
    const address = c.remote === null ? null : addressOf(c.remote);
    const wait = address === null ? 0 : this.throttle.delayMs(address);
    if (wait > 0) await sleep(wait);
    if (c.user === undefined && c.password === undefined) {
      if (!this.config.anonymousAccessAllowed) return this.failed(address, c, 'anonymous access is not allowed');
      return { user: this.config.anonymousUser, groups: new Set([this.config.anonymousGroup]) };
    }
    const principal = await this.check(c.user ?? '', c.password ?? '');
    if (principal === null) return this.failed(address, c, this.users.has(c.user ?? '') ? 'wrong password' : 'unknown user');
    if (address !== null) this.throttle.succeeded(address);
    return principal;
  };

  /** Check a user name and password (the web console's logins too). @returns the principal, or null */
  async check(user: string, password: string): Promise<GroupPrincipal | null> {
    const u = this.users.get(user);
    // An unknown user costs a check too, so answer times do not tell which users exist.
    const stored = u?.password ?? this.config.users[0]?.password ?? '';
    const digest = createHmac('sha256', this.cacheKey).update(user).update('\0').update(password).digest();
    const cached = this.verified.get(user);
    let ok: boolean;
    if (u !== undefined && cached !== undefined && timingSafeEqual(cached, digest)) ok = true;
    else ok = (await verifyPassword(stored, password)) && u !== undefined;
    if (!ok || u === undefined) return null;
    this.verified.set(user, digest);
    return { user, groups: new Set(u.groups) };
  }

  /** The groups of a configured user (sessions opened in-process name only their user: the console's). */
  groupsOf(user: string | null): ReadonlySet<string> {
    if (user === null) return new Set(this.config.anonymousAccessAllowed ? [this.config.anonymousGroup] : []);
    return new Set(this.users.get(user)?.groups ?? []);
  }

  private failed(address: string | null, c: Credentials, why: string): false {
    const n = address === null ? 0 : this.throttle.failed(address);
    // The broker logs each refusal; a run of them from one address is worth a warning, at 5, 10, 20, 40, …
    if (n >= 5 && (n % 5 === 0 && ((n / 5) & (n / 5 - 1)) === 0)) {
      this.log.warn(
        { remote: address, failures: n, user: c.user, protocol: c.protocol, delayMs: this.throttle.delayMs(address!) },
        'repeated failed logins from %s (%d): further attempts from there are delayed',
        address,
        n,
      );
    } else this.log.debug({ remote: c.remote, user: c.user, why }, 'login refused: %s', why);
    return false;
  }
}
