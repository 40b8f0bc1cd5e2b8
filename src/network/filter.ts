import { parseDestination, wildcardMatch } from '../model/destination.js';

/**
 * One entry of a network connector's excludedDestinations / dynamicallyIncludedDestinations /
 * staticallyIncludedDestinations: `<queue physicalName="ORDERS.>"/>` or `<topic physicalName="PRICES.*"/>`,
 * wildcards allowed. A queue entry never matches a topic, nor the other way round.
 */
export interface DestinationFilter {
  /** Canonical, `queue://NAME` or `topic://NAME`. */
  readonly dest: string;
}

/** True when `dest` (canonical) matches one of `filters`. */
export function matchesAny(filters: readonly DestinationFilter[], dest: string): boolean {
  if (filters.length === 0) return false;
  const d = parseDestination(dest);
  for (const f of filters) {
    const p = parseDestination(f.dest);
    if (p.kind === d.kind && wildcardMatch(p.name, d.name)) return true;
  }
  return false;
}
