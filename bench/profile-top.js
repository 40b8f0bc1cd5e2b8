#!/usr/bin/env node
// Summarise a V8 .cpuprofile (from `node --cpu-prof`, e.g. `node bench/run.js --only np --profile DIR`):
// top functions by self time, and self time grouped by file.   usage: node bench/profile-top.js FILE [TOP]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './lib.js';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-top.js FILE.cpuprofile [TOP]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));

// Self time per node: each sample is charged the delta to the next sample.
const self = new Map();
const { samples, timeDeltas } = prof;
for (let i = 0; i < samples.length; i++) {
  const dt = timeDeltas[i + 1] ?? 0;
  self.set(samples[i], (self.get(samples[i]) ?? 0) + dt);
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const idleId = prof.nodes.find((n) => n.callFrame.functionName === '(idle)')?.id;
const busy = total - (self.get(idleId) ?? 0);

const where = (cf) => {
  let url = cf.url || '';
  if (url.startsWith('file://')) {
    try {
      url = relative(ROOT, fileURLToPath(url));
    } catch {
      // keep the URL
    }
  }
  return url ? `${url}:${cf.lineNumber + 1}` : '(native)';
};

const fns = new Map();
const files = new Map();
for (const [id, us] of self) {
  const cf = byId.get(id).callFrame;
  const key = `${cf.functionName || '(anonymous)'}  ${where(cf)}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
  const f = cf.url ? where({ ...cf, lineNumber: -1 }).replace(/:0$/, '') : cf.functionName || '(native)';
  files.set(f, (files.get(f) ?? 0) + us);
}

const pct = (us, idle = false) => `${((100 * us) / total).toFixed(1).padStart(5)}% ${idle ? '     -' : `${((100 * us) / busy).toFixed(1).padStart(5)}%`}`;
const ms = (us) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled (${(busy / 1000).toFixed(0)} ms busy), ${samples.length} samples\n`);
console.log(`top ${top} functions by self time (ms, % of all, % of busy = not idle):`);
for (const [k, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)} ${pct(us, k.startsWith('(idle)'))}  ${k}`);
console.log('\nself time by file:');
for (const [k, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${ms(us)} ${pct(us, k === '(idle)')}  ${k}`);
