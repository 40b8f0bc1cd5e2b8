import { fileURLToPath } from 'node:url';

/** Set (to true) by the bundler: this code then runs from dist/bundle/, two levels below the package root. */
declare const FERRYMQ_BUNDLED: boolean | undefined;

/**
 * The package's root directory (package.json, conf/, web/, bin/): one level above this module in dist/, two above
 * the bundle (dist/bundle/) that `bin/ferrymq` prefers. Every path into the package is resolved from here, because a
 * module's own `import.meta.url` is a different directory once it is bundled.
 */
export const ROOT_URL = new URL(typeof FERRYMQ_BUNDLED === 'boolean' ? '../../' : '../', import.meta.url);

/** A path under the package root, e.g. `fromRoot('conf/single.xml')`. */
export function fromRoot(path: string): string {
  return fileURLToPath(new URL(path, ROOT_URL));
}
