#!/usr/bin/env node
// `npm run build`'s second step: dist/ (from tsc) bundled into one CommonJS file, dist/bundle/ferrymq.cjs, that
// bin/ferrymq runs with a V8 code cache. Only what cannot live in a bundle stays outside: pino-pretty (loaded on a
// terminal only) and native addons, which are found at run time from the package's node_modules.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const root = new URL('../', import.meta.url);
rmSync(new URL('dist/bundle', root), { recursive: true, force: true });

/**
 * classic-level finds its native addon from its own directory (`node-gyp-build(__dirname)`); bundled, that would be
 * dist/bundle/. Its JavaScript (with abstract-level: ~20 ms of loading at every start) is bundled, and the addon is
 * looked up from where the package is installed.
 */
const classicLevelAddon = {
  name: 'classic-level-addon',
  setup(b) {
    b.onLoad({ filter: /[\\/]classic-level[\\/]binding\.js$/ }, () => ({
      contents: "module.exports = require('node-gyp-build')(require('node:path').dirname(require.resolve('classic-level/package.json')));",
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: [new URL('dist/cli/main.js', root).pathname],
  outfile: new URL('dist/bundle/ferrymq.cjs', root).pathname,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // src/root.ts: paths into the package are two levels up from the bundle. import.meta.url: the bundle's own URL.
  define: { FERRYMQ_BUNDLED: 'true', 'import.meta.url': '__bundleUrl' },
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  external: ['msgpackr-extract', 'pino-pretty', 'classic-level/package.json'],
  plugins: [classicLevelAddon],
  logLevel: 'warning',
});
