import { appendFileSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DirectorySize } from '../../src/broker/store-usage.js';

t.test('DirectorySize: every file counted, a LevelDB table measured until its size settles behind a newer one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-usage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, bytes: number): void => writeFileSync(join(dir, name), Buffer.alloc(bytes));
  file('000005.ldb', 1000);
  file('000007.ldb', 2000);
  file('000008.log', 50);
  file('MANIFEST-000002', 10);
  const size = new DirectorySize(dir);

  t.equal(await size.measure(), 3060, 'first measurement: every file');
  t.equal(size.stats, 4);
  t.equal(await size.measure(), 3060);
  t.equal(size.stats, 8, 'nothing remembered after one measurement');
  t.equal(await size.measure(), 3060);
  t.equal(size.stats, 11, 'the older table, the same size twice, is not measured again');

  appendFileSync(join(dir, '000007.ldb'), Buffer.alloc(500));
  appendFileSync(join(dir, '000008.log'), Buffer.alloc(5));
  t.equal(await size.measure(), 3565, 'the newest table and the log are measured every time: they grow');
  t.equal(await size.measure(), 3565);
  t.equal(size.stats, 17, 'the newest table is never remembered');

  file('000009.ldb', 300);
  t.equal(await size.measure(), 3865, 'a new table counted');
  appendFileSync(join(dir, '000007.ldb'), Buffer.alloc(100));
  t.equal(await size.measure(), 3965, 'a table that grew since the last measurement is measured again, though a newer one exists');
  t.equal(await size.measure(), 3965);
  const before = size.stats;
  t.equal(await size.measure(), 3965);
  t.equal(size.stats - before, 3, 'settled now: only the newest table, the log and the manifest are measured');

  unlinkSync(join(dir, '000005.ldb'));
  t.equal(await size.measure(), 2965, 'a table compacted away is no longer counted');
});
