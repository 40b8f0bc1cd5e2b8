import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT, tempDir } from '../helpers/broker.js';

/**
 * bin/ferrymq runs dist/bundle/ferrymq.cjs with a V8 code cache per command, and the compiled modules when the bundle
 * is older than they are. Checked on a private copy of the package (the bundle, a stand-in for the compiled modules,
 * links to the rest), so the suite's own bundle and caches are not touched.
 */
t.test('the launcher: bundle when fresh, modules when stale, a cache per command that is checked and remade', async (t) => {
  const bundle = join(ROOT, 'dist', 'bundle', 'ferrymq.cjs');
  if (!existsSync(bundle)) {
    t.fail(`${bundle} is missing: npm run build makes it`);
    return;
  }
  // bin/ferrymq reads it as latin1: a non-ASCII character would come out garbled (and, read as UTF-8, would make V8
  // hold the whole source at two bytes per character).
  const nonAscii = /[^\x00-\x7f]/.exec(readFileSync(bundle, 'utf8'));
  t.equal(nonAscii, null, `the bundle is ASCII${nonAscii === null ? '' : ` (found ${JSON.stringify(nonAscii[0])} at ${nonAscii.index})`}`);
  const pkg = tempDir(t);
  for (const dir of ['bin', 'dist/bundle', 'dist/cli']) mkdirSync(join(pkg, dir), { recursive: true });
  copyFileSync(join(ROOT, 'bin', 'ferrymq'), join(pkg, 'bin', 'ferrymq'));
  for (const name of ['node_modules', 'package.json', 'conf']) symlinkSync(join(ROOT, name), join(pkg, name));
  const modules = join(pkg, 'dist', 'cli', 'main.js');
  writeFileSync(modules, "console.log('the compiled modules ran');\n");
  const copy = join(pkg, 'dist', 'bundle', 'ferrymq.cjs');
  copyFileSync(bundle, copy);
  const past = new Date(Date.now() - 60_000);
  utimesSync(modules, past, past); // the bundle is the newer of the two
  const cache = join(pkg, 'dist', 'bundle', 'other.cache');
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
  const run = (env: Record<string, string> = {}): string => {
    const r = spawnSync(process.execPath, [join(pkg, 'bin', 'ferrymq'), '--version'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
    t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.trim()})`);
    return r.stdout.trim();
  };
  const stamp = (): string => {
    const s = statSync(copy);
    return `${s.size}:${s.mtimeMs}\n`;
  };

  t.equal(run(), version, 'the bundle ran');
  t.ok(existsSync(cache), 'its first run left a code cache for the command');
  const first = readFileSync(cache);
  t.equal(first.subarray(0, stamp().length).toString('latin1'), stamp(), 'stamped with the bundle it was made from');
  t.ok(first.length > stamp().length + 1000, `with V8's cached code after the stamp (${first.length} bytes)`);

  t.equal(run(), version, 'a second run uses it');
  t.same(readFileSync(cache), first, 'an accepted cache is left as it is');

  writeFileSync(cache, Buffer.concat([Buffer.from(stamp(), 'latin1'), Buffer.alloc(4096, 0xab)]));
  t.equal(run(), version, 'a cache V8 refuses is no harm');
  t.not(readFileSync(cache).subarray(stamp().length, stamp().length + 16).toString('hex'), 'ab'.repeat(16), 'and is made again');

  // V8 checks only the source's length: a bundle rebuilt to the same length must not run the old code.
  const later = new Date(Date.now() + 1000);
  utimesSync(copy, later, later);
  t.equal(run(), version, 'a bundle rebuilt to the same length runs');
  t.equal(readFileSync(cache).subarray(0, stamp().length).toString('latin1'), stamp(), 'with a cache made for it');
  writeFileSync(copy, readFileSync(bundle, 'utf8') + '\n// rebuilt\n');
  t.equal(run(), version, 'a rebuilt bundle runs');
  t.equal(readFileSync(cache).subarray(0, stamp().length).toString('latin1'), stamp(), 'with a cache made for it, not the old one');

  t.equal(run({ FERRYMQ_BUNDLE: '0' }), 'the compiled modules ran', 'FERRYMQ_BUNDLE=0 runs the compiled modules');
  const future = new Date(Date.now() + 60_000);
  utimesSync(modules, future, future); // a plain tsc after the last bundle
  t.equal(run(), 'the compiled modules ran', 'a bundle older than the compiled modules is not used');
});
