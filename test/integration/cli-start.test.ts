import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { connect } from '../../src/index.js';
import { BIN, startBroker, tempDir } from '../helpers/broker.js';

function run(args: string[], cwd: string): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

t.test('config errors: one line naming file, element, attribute and value; exit code 2', async (t) => {
  const dir = tempDir(t);
  const bad = join(dir, 'bad.xml');
  writeFileSync(
    bad,
    `<broker brokerName="x"><transportConnectors><transportConnector name="openwire" uri="tcp://127.0.0.1:99999"/></transportConnectors></broker>`,
  );
  const r = run(['start', '--conf', bad, '--no-console'], dir);
  t.equal(r.status, 2, 'exit code 2');
  t.match(r.stderr, 'bad.xml');
  t.match(r.stderr, /transportConnector/);
  t.match(r.stderr, /uri/);
  t.match(r.stderr, /99999/);

  const bad2 = join(dir, 'bad2.xml');
  writeFileSync(bad2, `<broker brokerName="x" persistent="maybe"/>`);
  const r2 = run(['start', '--conf', bad2, '--no-console'], dir);
  t.equal(r2.status, 2);
  t.match(r2.stderr, /persistent/);
  t.match(r2.stderr, /maybe/);

  const broken = join(dir, 'broken.xml');
  writeFileSync(broken, `<broker><transportConnectors></broker>`);
  const r3 = run(['start', '--conf', broken, '--no-console'], dir);
  t.equal(r3.status, 2, 'malformed XML: exit 2');
  t.match(r3.stderr, 'broken.xml');

  const r4 = run(['start', '--transport', 'tcp://127.0.0.1:0?maximumConnection=5', '--no-console', '--data', dir], dir);
  t.equal(r4.status, 2, 'unknown connector option: exit 2');
  t.match(r4.stderr, /maximumConnection/);

  const r5 = run(['start', '--conf', join(dir, 'missing.xml'), '--no-console'], dir);
  t.equal(r5.status, 2, 'missing file: exit 2');
  t.match(r5.stderr, 'missing.xml');
});

t.test('unknown elements: one warning each, and the broker starts', async (t) => {
  const dir = tempDir(t);
  const conf = join(dir, 'warn.xml');
  writeFileSync(
    conf,
    `<beans><broker brokerName="warned"><flyingCarpet/><managementContext/>
      <transportConnectors><transportConnector name="openwire" uri="tcp://127.0.0.1:0"/></transportConnectors>
    </broker></beans>`,
  );
  const b = await startBroker(t, { dataDir: dir, args: ['--conf', conf] });
  const warnings = b.logs.filter((l) => l['level'] === 40).map((l) => String(l['msg']));
  t.ok(warnings.some((w) => w.includes('flyingCarpet')), 'warned about flyingCarpet');
  t.ok(warnings.some((w) => w.includes('managementContext')), 'warned about managementContext');
});

t.test('SIGTERM: graceful stop, persistent messages kept', async (t) => {
  const b = await startBroker(t);
  const c = await connect(b.url);
  for (let i = 0; i < 100; i++) await c.send('queue://g', `g${i}`);
  await c.close();
  const code = await b.kill('SIGTERM');
  t.equal(code, 0, 'exit code 0 on SIGTERM');
  t.ok(b.logs.some((l) => String(l['msg']).includes('stopped')), 'logged that it stopped');
  const again = await startBroker(t, { dataDir: b.dataDir, port: b.port });
  const rec = await again.waitForLog((l) => typeof l['recovered'] === 'number', 'recovered');
  t.equal(rec['recovered'], 100, 'all 100 recovered');
});
