/**
 * Brute-force brake: failed logins are counted per remote address, and every login attempt from an address with
 * recent failures waits before its password is checked, twice as long for each further failure, up to a cap. The
 * table is bounded: the oldest address is forgotten first, and an address is forgotten after a quiet spell.
 */

/** Wait after the second failure (the first is a typo and costs nothing); doubles with each further one. */
export const DEFAULT_LOGIN_DELAY_BASE_MS = 250;
/** Longest wait before a login attempt is checked: under a client's 10 s connect timeout, so a right password still gets in. */
export const DEFAULT_LOGIN_DELAY_MAX_MS = 5_000;
/** Addresses remembered at once; past it the one that failed longest ago is forgotten. */
export const DEFAULT_LOGIN_THROTTLE_ADDRESSES = 10_000;
/** An address with no failure for this long starts afresh. */
export const DEFAULT_LOGIN_FORGET_AFTER_MS = 10 * 60_000;

interface Record {
  failures: number;
  last: number;
}

export interface LoginThrottleOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxAddresses?: number;
  forgetAfterMs?: number;
  now?: () => number;
}

export class LoginThrottle {
  /** In order of last failure (re-inserted on each), so the first key is the one to forget. */
  private readonly table = new Map<string, Record>();
  private readonly base: number;
  private readonly max: number;
  private readonly maxAddresses: number;
  private readonly forgetAfter: number;
  private readonly now: () => number;

  constructor(opts: LoginThrottleOptions = {}) {
    this.base = opts.baseDelayMs ?? DEFAULT_LOGIN_DELAY_BASE_MS;
    this.max = opts.maxDelayMs ?? DEFAULT_LOGIN_DELAY_MAX_MS;
    this.maxAddresses = opts.maxAddresses ?? DEFAULT_LOGIN_THROTTLE_ADDRESSES;
    this.forgetAfter = opts.forgetAfterMs ?? DEFAULT_LOGIN_FORGET_AFTER_MS;
    this.now = opts.now ?? Date.now;
  }

  /** Addresses remembered now. */
  get size(): number {
    return this.table.size;
  }

  /** Recent failures from `address`. */
  failures(address: string): number {
    const r = this.table.get(address);
    if (r === undefined) return 0;
    if (this.now() - r.last > this.forgetAfter) {
      this.table.delete(address);
      return 0;
    }
    return r.failures;
  }

  /** How long a login attempt from `address` waits before it is checked, ms. */
  delayMs(address: string): number {
    const n = this.failures(address);
    if (n < 2) return 0;
    return Math.min(this.base * 2 ** Math.min(n - 2, 30), this.max);
  }

  /** Count a failed login. @returns the failures from that address so far */
  failed(address: string): number {
    const n = this.failures(address) + 1;
    this.table.delete(address);
    this.table.set(address, { failures: n, last: this.now() });
    while (this.table.size > this.maxAddresses) this.table.delete(this.table.keys().next().value!);
    return n;
  }

  /** A successful login clears the address's record. */
  succeeded(address: string): void {
    this.table.delete(address);
  }
}

/** The address part of `host:port` (IPv6 addresses keep their colons). */
export function addressOf(remote: string): string {
  const i = remote.lastIndexOf(':');
  return i < 0 ? remote : remote.slice(0, i);
}
