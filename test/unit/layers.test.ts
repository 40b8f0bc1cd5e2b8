import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import t from 'tap';
import { ROOT } from '../helpers/broker.js';

/**
 * The layering of src/, checked on every run: the broker core sits above the message model, the store, the
 * protocol and the config, and none of those reaches back up into it; no two folders import each other, even
 * through others. A cycle makes "add a bridge" or "swap the store" a rewrite instead of an addition.
 */
const SRC = join(ROOT, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The src/ folder a file belongs to ('' for files at the top of src/). */
function folderOf(file: string): string {
  const rel = relative(SRC, file);
  return rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : '';
}

/** Folder -> folders it imports from (relative imports only; the public index re-exports everything, so it is left out). */
const graph = new Map<string, Set<string>>();
const edges: { from: string; to: string; file: string }[] = [];
for (const file of files(SRC)) {
  if (relative(SRC, file) === 'index.ts') continue;
  const from = folderOf(file);
  for (const m of readFileSync(file, 'utf8').matchAll(/(?:import|export)[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g)) {
    const target = normalize(join(dirname(file), m[1]!));
    const to = folderOf(target);
    if (to === from || to === '') continue;
    if (!graph.has(from)) graph.set(from, new Set());
    graph.get(from)!.add(to);
    edges.push({ from, to, file: relative(ROOT, file) });
  }
}

t.test('store, client, config, protocol and model import nothing from broker', async (t) => {
  for (const folder of ['store', 'client', 'config', 'protocol', 'model']) {
    const bad = edges.filter((e) => e.from === folder && e.to === 'broker').map((e) => e.file);
    t.same(bad, [], `${folder}/ does not import broker/`);
  }
  t.ok(edges.some((e) => e.from === 'broker' && e.to === 'model'), 'the check sees imports (broker/ uses model/)');
});

t.test('the message model is the bottom layer: it imports only the protocol\'s types', async (t) => {
  const out = [...(graph.get('model') ?? [])].sort();
  t.same(out, ['protocol'], 'model/ imports protocol/ only');
  t.same([...(graph.get('protocol') ?? [])], [], 'protocol/ imports no other folder');
});

t.test('no import cycle between folders of src/', async (t) => {
  // Depth-first search for a back edge; report the cycle found.
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  let cycle: string[] | null = null;
  const visit = (n: string): void => {
    if (cycle !== null) return;
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 'open') cycle = [...stack.slice(stack.indexOf(m)), m];
      else if (!state.has(m)) visit(m);
      if (cycle !== null) return;
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n);
  t.equal(cycle === null ? null : (cycle as string[]).join(' -> '), null, 'no cycle');
  t.ok(graph.size >= 8, `${graph.size} folders checked`);
});
