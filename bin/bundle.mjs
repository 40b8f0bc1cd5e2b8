#!/usr/bin/env node
// `npm run build`'s second step: dist/ (from tsc) bundled into one CommonJS file, dist/bundle/ferrymq.cjs, that
// bin/ferrymq runs with a V8 code cache. Only what cannot live in a bundle stays outside: pino-pretty (loaded on a
// terminal only) and native addons, which are found at run time from the package's node_modules.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  // The file is the CommonJS wrapper function itself: bin/ferrymq compiles it as it is read, without the copy that
  // concatenating module.wrap's text around 1.5 MB of source makes (it stayed on the heap until a full collection).
  banner: { js: "(function (exports, require, module, __filename, __dirname) {\nconst __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  footer: { js: '})' },
  external: ['msgpackr-extract', 'pino-pretty', 'classic-level/package.json'],
  plugins: [classicLevelAddon],
  logLevel: 'warning',
});

// esbuild escapes non-ASCII characters in strings and regular expressions but keeps them in the comments it keeps (a
// dash, an arrow). One such character makes V8 hold the whole source as two bytes per character: 3 MiB of the idle
// broker's heap instead of 1.5. Comments only, so writing them as \u escapes changes no code.
const out = new URL('dist/bundle/ferrymq.cjs', root);
const text = readFileSync(out, 'utf8');
const ascii = text.replace(/[^\x00-\x7f]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
if (ascii !== text) writeFileSync(out, ascii);
