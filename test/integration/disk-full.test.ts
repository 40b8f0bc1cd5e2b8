import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { connect } from '../../src/index.js';
import { type BrokerProcess, startBroker, tempDir } from '../helpers/broker.js';

async function until(what: string, pred: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Why a private tmpfs cannot be had here, or null when it can (root, and unshare -m permitted). */
function noTmpfs(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs (CI runs the suite as root)';
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /mnt && umount /mnt'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `unshare -m with a tmpfs mount is not permitted here: ${r.error?.message ?? r.stderr.trim()}`;
  return null;
}

/** Start a broker whose data directory is a private tmpfs of `mib` MiB (gone with the process). */
function onTmpfs(t: Parameters<typeof startBroker>[0], mib: number, env: Record<string, string> = {}): Promise<BrokerProcess> {
  const dataDir = tempDir(t);
  const mount = `mount -t tmpfs -o size=${mib}m tmpfs "$0" && exec "$@"`;
  return startBroker(t, { dataDir, env, wrap: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', mount, dataDir] });
}

/** Run a command in the broker's mount namespace (where its tmpfs is). */
function inBroker(b: BrokerProcess, cmd: string): void {
  spawnSync('nsenter', ['-t', String(b.proc.pid), '-m', '--', 'sh', '-c', cmd], { encoding: 'utf8' });
}

const body = (): Buffer => randomBytes(1024); // incompressible: disk usage is real

t.test('<storeUsage limit>: past it persistent sends are refused with FERRY_STORE_FULL, and accepted again once drained', async (t) => {
  const dir = tempDir(t);
  const conf = join(dir, 'store-limit.xml');
  writeFileSync(conf, '<broker><systemUsage><systemUsage><storeUsage><storeUsage limit="12 mb"/></storeUsage></systemUsage></systemUsage></broker>');
  const b = await startBroker(t, { args: ['--conf', conf] });
  const p = await connect(b.url);
  t.teardown(() => p.close());
  let ok = 0;
  let refused: unknown = null;
  for (let i = 0; i < 40_000 && refused === null; i += 100) {
    const window = [];
    for (let j = 0; j < 100; j++) {
      window.push(
        p.send('queue://limit', body()).then(
          () => void ok++,
          (err: unknown) => void (refused ??= err),
        ),
      );
    }
    await Promise.all(window);
  }
  t.match(refused, { code: 'FERRY_STORE_FULL', message: /store usage .* reached its limit of 12\.0 MiB/ }, `refused after ${ok} sends`);
  // LevelDB holds a message in about 1.1 KiB, twice while a log is being turned into a table: 12 MiB is 5,500 to
  // 11,000 of them.
  t.ok(ok > 4000 && ok < 11_500, `no more than 12 MiB of 1 KiB messages were accepted (${ok})`);
  await b.waitForLog((l) => l['level'] === 40 && /store full/.test(String(l['msg'])), 'a warning that the store is full');
  await t.resolves(p.send('queue://limit', 'np', { persistent: false }), 'non-persistent sends still go');
  const c = await connect(b.url);
  t.teardown(() => c.close());
  const sub = await c.subscribe('queue://limit', { prefetch: 500 });
  let drained = 0;
  while (drained < ok + 1) {
    const m = await sub.receive(10_000);
    if (m === null) break;
    drained++;
  }
  t.equal(drained, ok + 1, 'every accepted message is there');
  await b.waitForLog((l) => /store has room again/.test(String(l['msg'])), 'the store to have room again', 30_000);
  await t.resolves(p.send('queue://limit', body()), 'persistent sends accepted again');
  t.equal(b.logs.filter((l) => Number(l['level']) >= 50).length, 0, 'no error-level log line: LevelDB never ran out of room');
});

t.test('a real ENOSPC on a small tmpfs: failed sends are never delivered, one error line, the store recovers when space is freed', async (t) => {
  const why = noTmpfs();
  if (why !== null) return t.skip(why);
  // The disk watch would refuse sends before LevelDB sees ENOSPC: checked once at start only, so the disk filled
  // behind the broker's back reaches LevelDB.
  const b = await onTmpfs(t, 24, { FERRYMQ_STORE_CHECK_MS: '3600000' });
  const dir = b.dataDir;
  const p = await connect(b.url);
  const c = await connect(b.url);
  t.teardown(() => Promise.allSettled([p.close(), c.close()]));
  const received = new Map<string, number>();
  const sub = await c.subscribe('queue://full', { prefetch: 500 });
  const consuming = (async () => {
    for (;;) {
      const m = await sub.receive(1000).catch(() => null);
      if (m === null) {
        if (c.isClosed) return;
        continue;
      }
      received.set(m.text.slice(0, 12), (received.get(m.text.slice(0, 12)) ?? 0) + 1);
    }
  })();
  const ok = new Set<string>();
  const failed = new Map<string, string>();
  let n = 0;
  const burst = async (count: number): Promise<void> => {
    for (let k = 0; k < count; k += 50) {
      const sends = [];
      for (let j = 0; j < 50; j++) {
        const id = `m${String(n++).padStart(11, '0')}`;
        sends.push(
          p.send('queue://full', Buffer.concat([Buffer.from(id), body()])).then(
            () => void ok.add(id),
            (err: { code?: string }) => void failed.set(id, err.code ?? String(err)),
          ),
        );
      }
      await Promise.all(sends);
    }
  };
  await burst(500);
  t.equal(failed.size, 0, 'sends succeed while there is room');
  inBroker(b, `dd if=/dev/zero of="${dir}/ballast" bs=64k 2>/dev/null; true`);
  // Messages consumed at once need no new space (the journal writes over its own files, LevelDB never gets them):
  // a backlog nobody consumes must reach LevelDB, and finds the disk full.
  const backlog = async (): Promise<void> => {
    const sends = [];
    for (let j = 0; j < 100; j++) sends.push(p.send('queue://full.backlog', body()).catch(() => {}));
    await Promise.all(sends);
  };
  for (let i = 0; i < 40 && failed.size === 0; i++) {
    await backlog();
    await burst(100);
  }
  t.ok(failed.size > 0, `sends fail once the disk is full (${failed.size} failed)`);
  t.same(new Set(failed.values()), new Set(['FERRY_STORE']), 'refused with FERRY_STORE');
  await b.waitForLog((l) => l['level'] === 50 && /No space left on device/.test(JSON.stringify(l)), 'an error line naming ENOSPC');
  await burst(300); // the broker is reopening, or still full: these are refused, quietly
  inBroker(b, `rm -f "${dir}/ballast"`);
  await b.waitForLog((l) => /store writable again/.test(String(l['msg'])), 'the store to recover without a restart', 30_000);
  const failedBefore = failed.size;
  await burst(500);
  t.equal(failed.size, failedBefore, 'sends succeed again after space was freed');
  const enospcLines = b.logs.filter((l) => Number(l['level']) >= 50 && /No space left on device/.test(JSON.stringify(l)));
  t.ok(enospcLines.length >= 1 && enospcLines.length <= 3, `one error line per burst, not one per message (${enospcLines.length})`);
  await until(`all ${ok.size} stored messages received`, () => received.size >= ok.size, 20_000);
  t.equal(received.size, ok.size, 'every receipted send received');
  t.equal([...failed.keys()].filter((id) => received.has(id)).length, 0, 'no send answered with an error was delivered');
  t.equal([...received.values()].filter((k) => k > 1).length, 0, 'no duplicates');
  await c.close();
  await consuming;
});

t.test('free space on a small tmpfs is watched: persistent sends are refused with FERRY_STORE_FULL before LevelDB sees ENOSPC', async (t) => {
  const why = noTmpfs();
  if (why !== null) return t.skip(why);
  const b = await onTmpfs(t, 24);
  const p = await connect(b.url);
  t.teardown(() => p.close());
  let ok = 0;
  const codes = new Map<string, number>();
  for (let i = 0; i < 40_000 && codes.size === 0; i += 100) {
    const window = [];
    for (let j = 0; j < 100; j++) {
      window.push(
        p.send('queue://watched', body()).then(
          () => void ok++,
          (err: { code?: string }) => void codes.set(String(err.code), (codes.get(String(err.code)) ?? 0) + 1),
        ),
      );
    }
    await Promise.all(window);
  }
  t.same([...codes.keys()], ['FERRY_STORE_FULL'], `refused with FERRY_STORE_FULL after ${ok} sends, never FERRY_STORE`);
  await b.waitForLog((l) => l['level'] === 40 && /free on the data directory's file system/.test(String(l['msg'])), 'a warning naming the free space');
  t.equal(b.logs.filter((l) => Number(l['level']) >= 50).length, 0, 'no error-level log line: no write failed');
});
