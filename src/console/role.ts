/**
 * What the console shows of the node's place in a master/slave pair. The node owns the truth; the console asks
 * through {@link RoleProvider} every time it renders, so a slave that takes the lock shows "master" at once.
 */
export type NodeRole =
  /** No shared-store lock configured: this node serves on its own. */
  | { kind: 'standalone' }
  /** Holds the store lock and serves. */
  | { kind: 'master'; lock: string }
  /** Waiting for the store lock held by another node (named when known): no connectors open, no broker running. */
  | { kind: 'slave'; lock: string; holder?: string | null }
  /** Between the two: opening the store, or shutting down. */
  | { kind: 'starting' }
  | { kind: 'stopped' };

export interface RoleProvider {
  role(): NodeRole;
}

/** A node without a lockable store (an embedded broker with an injected store). */
export const STANDALONE: RoleProvider = { role: () => ({ kind: 'standalone' }) };

/** "master", "slave (waiting for lock on …)", "standalone": one line for pages and logs. */
export function describeRole(r: NodeRole): string {
  switch (r.kind) {
    case 'standalone':
      return 'standalone';
    case 'master':
      return `master (holds lock ${r.lock})`;
    case 'slave':
      return `slave (waiting for lock on ${r.lock}${r.holder ? `, held by ${r.holder}` : ''})`;
    case 'starting':
      return 'starting';
    case 'stopped':
      return 'stopped';
  }
}
