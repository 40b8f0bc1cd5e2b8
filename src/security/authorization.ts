/**
 * `<authorizationPlugin><map><authorizationMap>`: the broker's authorize hook. Each entry names a queue or topic
 * pattern (ActiveMQ wildcards) and the groups that may read (subscribe, browse, remove a durable subscription),
 * write (send) and admin (create the destination, purge, delete) it. Every matching entry counts (their groups
 * are joined, as in ActiveMQ); a destination no entry matches falls to `<defaultEntry>`, and without one it is
 * refused, with one exception: reading advisory topics (`ActiveMQ.Advisory.>`), which bridges need, is allowed to
 * every authenticated user unless an entry says otherwise.
 */
import { type AuthorizeAction, type Principal } from '../broker/hooks.js';
import type { AuthorizationConfig, AuthorizationEntryConfig } from '../config/config.js';
import { isWildcard, parseDestination, TEMP_QUEUE_PREFIX, wildcardMatch } from '../model/destination.js';

export type Permission = 'read' | 'write' | 'admin';

/** What each session action needs; null: any authenticated user (broker-wide statistics). */
export const ACTION_PERMISSION: Readonly<Record<AuthorizeAction, Permission | null>> = {
  send: 'write',
  subscribe: 'read',
  browse: 'read',
  unsubscribe: 'read',
  create: 'admin',
  purge: 'admin',
  delete: 'admin',
  stats: null,
};

/** A group name in an entry that stands for every user, anonymous ones included. */
export const ANY_GROUP = '*';
const ADVISORY_PREFIX = 'topic://ActiveMQ.Advisory.';
/** Destinations whose matching entries are remembered (patterns are matched once per destination, not per call). */
const MAX_CACHED_DESTINATIONS = 10_000;

interface Entry {
  kind: 'queue' | 'topic';
  pattern: string;
  groups: Record<Permission, readonly string[]>;
}

/**
 * Whether an entry's pattern covers `name`, which may itself be a wildcard subscription: `PRICES.>` is covered by
 * `PRICES.>` or `>`, not by `PRICES.*` (it also names PRICES.A.B) nor by `PRICES.A.>`.
 */
export function patternCovers(pattern: string, name: string): boolean {
  if (!isWildcard(name)) return wildcardMatch(pattern, name);
  const p = pattern.split('.');
  const n = name.split('.');
  for (let i = 0; i < p.length; i++) {
    const e = p[i]!;
    if (e === '>') return n.length > i;
    if (i >= n.length || n[i] === '>') return false;
    if (e !== '*' && e !== n[i]) return false;
  }
  return p.length === n.length;
}

function entries(c: AuthorizationEntryConfig): Entry[] {
  return c.dests.map((d) => {
    const kind = d.startsWith('topic://') ? 'topic' : 'queue';
    return { kind, pattern: d.slice(kind.length + 3), groups: { read: c.read, write: c.write, admin: c.admin } };
  });
}

export class AuthorizationMap {
  private readonly entries: Entry[];
  private readonly matched = new Map<string, Entry[]>();
  private readonly defaultEntry: Entry | null;
  private readonly tempEntry: Entry | null;

  constructor(
    config: AuthorizationConfig,
    /** The groups of a principal: its own `groups`, or looked up by user name. */
    private readonly groupsOf: (p: Principal) => ReadonlySet<string>,
  ) {
    this.entries = config.entries.flatMap(entries);
    const whole = (c: AuthorizationEntryConfig | null): Entry | null =>
      c === null ? null : { kind: 'queue', pattern: '>', groups: { read: c.read, write: c.write, admin: c.admin } };
    this.defaultEntry = whole(config.defaultEntry);
    this.tempEntry = whole(config.tempEntry);
  }

  /** The authorize hook. */
  readonly authorize = (principal: Principal, action: AuthorizeAction, destination: string | null): boolean => {
    let perm = ACTION_PERMISSION[action];
    if (perm === null || destination === null) return true;
    // The broker owns advisory topics: subscribing to one not yet published is reading it, not creating it.
    if (action === 'create' && destination.startsWith(ADVISORY_PREFIX)) perm = 'read';
    return this.allowed(this.groupsOf(principal), perm, destination);
  };

  /** May a member of `groups` have `perm` on `destination` (canonical; wildcards as subscribed)? */
  allowed(groups: ReadonlySet<string>, perm: Permission, destination: string): boolean {
    const grants = (e: Entry): boolean => e.groups[perm].some((g) => g === ANY_GROUP || groups.has(g));
    if (destination.startsWith(TEMP_QUEUE_PREFIX)) return this.tempEntry === null || grants(this.tempEntry);
    const found = this.matching(destination);
    if (found.length > 0) return found.some(grants);
    if (perm === 'read' && destination.startsWith(ADVISORY_PREFIX)) return true;
    return this.defaultEntry !== null && grants(this.defaultEntry);
  }

  private matching(destination: string): Entry[] {
    let hit = this.matched.get(destination);
    if (hit !== undefined) return hit;
    const d = parseDestination(destination);
    hit = this.entries.filter((e) => e.kind === d.kind && patternCovers(e.pattern, d.name));
    if (this.matched.size >= MAX_CACHED_DESTINATIONS) this.matched.clear();
    this.matched.set(destination, hit);
    return hit;
  }
}
