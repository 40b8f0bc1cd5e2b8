import { FerryError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * Security hooks: where authentication and authorization plug into the broker (aedes' `authenticate`,
 * `authorizePublish`, `authorizeSubscribe`; ActiveMQ's `JaasAuthenticationPlugin` and `AuthorizationPlugin`).
 * With no hook installed everything is allowed, and the per-message cost is one null check.
 */

/**
 * What a session asks to do, as its authorize hook sees it. `create`: a send or subscription to a destination that
 * does not exist yet (asked besides `send`/`subscribe`); `unsubscribe`: removing a durable subscription (of the
 * topic named); `stats`: the broker-wide counters (destination null).
 */
export type AuthorizeAction = 'send' | 'subscribe' | 'browse' | 'purge' | 'delete' | 'stats' | 'create' | 'unsubscribe';

/** What a client presented on CONNECT (native `user`/`password`, STOMP `login`/`passcode`). */
export interface Credentials {
  user: string | undefined;
  password: string | undefined;
  clientId: string | null;
  /** Peer address (`host:port`), or null for an in-process session. */
  remote: string | null;
  /** Who is connecting: `native`, `stomp`, or an in-process user's own name (`bridge`, `console`). */
  protocol: string;
}

/**
 * Who a session acts as, as the authenticate hook returned it. Any extra fields (groups, roles) are the hook's own
 * and reach the authorize hook untouched.
 */
export interface Principal {
  readonly user: string | null;
  readonly [key: string]: unknown;
}

/**
 * Decide whether a CONNECT may proceed: a principal (or `true`, for one named after the user) accepts, `false`
 * (or null, or a throw / rejection) refuses with FERRY_AUTHENTICATION_FAILED. May return a Promise.
 */
export type AuthenticateHook = (credentials: Credentials) => Principal | boolean | null | Promise<Principal | boolean | null>;

/**
 * Decide whether `principal` may do `action` on `destination` (canonical, `queue://NAME` / `topic://NAME`, wildcards
 * as subscribed; null for the broker-wide `stats`). Synchronous on purpose: it runs for every send, so resolve group
 * membership in authenticate and keep it on the principal. `false` or a throw refuses with FERRY_NOT_AUTHORIZED.
 */
export type AuthorizeHook = (principal: Principal, action: AuthorizeAction, destination: string | null) => boolean;

/**
 * The principal of the broker's own in-process sessions (a network bridge's local side): the authorize hook is not
 * asked for it, as ActiveMQ's bridges act in the broker's system context.
 */
export const SYSTEM_PRINCIPAL: Principal = Object.freeze({ user: null, system: true });

export interface BrokerHooks {
  authenticate?: AuthenticateHook | undefined;
  authorize?: AuthorizeHook | undefined;
}

/** The broker's installed hooks, and the one place they are called. */
export class Hooks {
  private authenticateHook: AuthenticateHook | null = null;
  private authorizeHook: AuthorizeHook | null = null;
  /** Bumped whenever the hooks change: decisions a session remembered from before no longer count. */
  generation = 0;

  constructor(private readonly log: Logger) {}

  /** Install (or, with undefined, remove) hooks; sessions opened before keep their principal. */
  set(hooks: BrokerHooks): void {
    if ('authenticate' in hooks) this.authenticateHook = hooks.authenticate ?? null;
    if ('authorize' in hooks) this.authorizeHook = hooks.authorize ?? null;
    this.generation++;
  }

  /** True when an authorize hook is installed: callers skip working out what to ask otherwise. */
  get guarded(): boolean {
    return this.authorizeHook !== null;
  }

  /**
   * Run the authenticate hook. `done` is called synchronously when the hook is absent or synchronous, so a connection
   * without security costs no extra turn of the event loop.
   */
  authenticate(c: Credentials, done: (err: FerryError | null, principal: Principal | null) => void): void {
    const hook = this.authenticateHook;
    if (hook === null) return done(null, { user: c.user ?? null });
    let verdict: ReturnType<AuthenticateHook>;
    try {
      verdict = hook(c);
    } catch (err) {
      return done(this.refusedLogin(c, err), null);
    }
    if (verdict instanceof Promise) {
      verdict.then(
        (v) => this.settle(c, v, done),
        (err: unknown) => done(this.refusedLogin(c, err), null),
      );
      return;
    }
    this.settle(c, verdict, done);
  }

  /** @throws FerryError FERRY_NOT_AUTHORIZED when the authorize hook refuses (or throws) */
  authorize(principal: Principal, action: AuthorizeAction, destination: string | null): void {
    const hook = this.authorizeHook;
    if (hook === null || principal === SYSTEM_PRINCIPAL) return;
    let ok = false;
    try {
      ok = hook(principal, action, destination) === true;
    } catch (err) {
      this.log.warn({ err, user: principal.user, action, destination }, 'authorize hook threw: refused');
    }
    if (!ok) {
      const who = principal.user === null ? 'an anonymous user' : `user ${principal.user}`;
      throw new FerryError('FERRY_NOT_AUTHORIZED', destination === null ? `${who} may not ${action}` : `${who} may not ${action} ${destination}`);
    }
  }

  private settle(c: Credentials, v: Principal | boolean | null, done: (err: FerryError | null, principal: Principal | null) => void): void {
    if (v === true) return done(null, { user: c.user ?? null });
    if (v === false || v === null || typeof v !== 'object') return done(this.refusedLogin(c, null), null);
    done(null, v);
  }

  private refusedLogin(c: Credentials, err: unknown): FerryError {
    if (err !== null) this.log.warn({ err, user: c.user, remote: c.remote }, 'authenticate hook failed: connection refused');
    else this.log.info({ user: c.user, remote: c.remote, protocol: c.protocol }, 'authentication failed for %s from %s', c.user === undefined ? 'a connection without credentials' : `user ${c.user}`, c.remote ?? 'in-process');
    const who = c.user === undefined ? 'a connection without credentials' : `user ${c.user}`;
    return new FerryError('FERRY_AUTHENTICATION_FAILED', `authentication failed for ${who}`);
  }
}
