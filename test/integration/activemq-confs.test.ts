// Every XML file of ActiveMQ 5.17's own conf and example folders (Debian's `activemq` package), started as a real
// ferrymq broker: each either starts, with warnings, and opens its supported connectors (moved to free loopback
// ports), or is refused with one line a user can act on. `.ci/run` installs the package; without it this skips.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { connect } from '../../src/index.js';
import { BIN } from '../helpers/broker.js';

const EXAMPLES = '/usr/share/doc/activemq/examples/conf';
const DEBIAN_MAIN = '/etc/activemq/instances-available/main/activemq.xml';
const NOT_INSTALLED = `the Debian package activemq is not installed (${EXAMPLES} is missing): apt-get install activemq, as .ci/run does`;

/** What each file does; a file of the package missing from this table fails the test, so a new one gets a row. */
type Outcome = { opens: [name: string, protocol: 'native' | 'stomp'][]; warns: RegExp[] } | { refused: RegExp };
const EXPECTED: Record<string, Outcome> = {
  'activemq.xml': { opens: [['tcp://127.0.0.1:0', 'native'], ['stomp://127.0.0.1:0', 'stomp']], warns: [/<persistenceFactory> is ignored/] },
  'activemq-demo.xml': {
    opens: [['openwire', 'native'], ['stomp', 'stomp']],
    warns: [/name="ssl" .* is skipped: .*<sslContext> names a Java keystore and ferrymq reads PEM files/, /name="ws" .* is skipped: ferrymq has no WebSocket/, /<camelContext> is ignored/],
  },
  'activemq-dynamic-network-broker1.xml': { opens: [['openwire', 'native']], warns: [/<managementContext> is ignored/] },
  'activemq-dynamic-network-broker2.xml': { opens: [['openwire', 'native']], warns: [/<managementContext> is ignored/] },
  'activemq-jdbc-performance.xml': { opens: [['openwire', 'native']], warns: [/<jdbcPersistenceAdapter> is not supported/, /id="mysql-ds"/] },
  'activemq-jdbc.xml': { opens: [['openwire', 'native']], warns: [/<jdbcPersistenceAdapter> is not supported/, /id="derby-ds"/] },
  'activemq-mqtt.xml': { opens: [], warns: [/name="mqtt\+nio" .* is skipped: ferrymq does not speak MQTT/, /no transport connector ferrymq can serve/] },
  'activemq-scalability.xml': { opens: [['nio', 'native']], warns: [/attribute optimizedDispatch/] },
  // Its passwords come from a jasypt-encrypted properties file, which ferrymq does not read: named, not guessed.
  'activemq-security.xml': {
    refused: /activemq-security\.xml: .*<authenticationUser> attribute password="\$\{activemq\.password\}": cannot resolve \$\{activemq\.password\}/,
  },
  'activemq-specjms.xml': { opens: [['openwire', 'native']], warns: [/attribute deleteAllMessagesOnStartup/] },
  'activemq-static-network-broker1.xml': { opens: [['openwire', 'native']], warns: [/<tempUsage> is ignored/] },
  'activemq-static-network-broker2.xml': { opens: [['openwire', 'native']], warns: [/<tempUsage> is ignored/] },
  'activemq-stomp.xml': { opens: [['stomp', 'stomp'], ['stomp+nio', 'stomp']], warns: [/option transport.closeAsync/, /jetty\.xml.*bean\(s\) ignored/] },
  'activemq-throughput.xml': { opens: [['openwire', 'native']], warns: [/<pendingQueuePolicy> is not supported/] },
  'camel.xml': { refused: /camel\.xml: <beans>: has no <broker>: camel\.xml holds Camel routes; start the activemq\.xml that imports it$/ },
  'jetty.xml': { refused: /jetty\.xml: <beans>: has no <broker>: jetty\.xml holds only Spring beans/ },
  'jetty-demo.xml': { refused: /jetty-demo\.xml: <beans>: has no <broker>: jetty-demo\.xml holds only Spring beans/ },
  'jolokia-access.xml': { refused: /jolokia-access\.xml: root: expected one <broker> or <beans> root element, found <restrict>; a broker configuration is an activemq\.xml$/ },
  'web.xml': { refused: /web\.xml: root: expected one <broker> or <beans> root element, found <web-app>/ },
};

/** A port nothing listens on (a static: bridge in a file must not reach whatever runs on 61616 here). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/**
 * The file as a user would adapt it to this machine: transport connectors on 127.0.0.1 port 0, static bridges to a
 * closed port, the multicast group private to this run.
 */
function loopback(xml: string, deadPort: number): string {
  return xml
    .replace(/(<transportConnector\b[^>]*?\buri=")([A-Za-z+]+):\/\/[^:/"?]+:\d+/g, '$1$2://127.0.0.1:0')
    .replace(/tcp:\/\/(localhost|host\d|[\d.]+):\d+(?=[,)])/g, `tcp://127.0.0.1:${deadPort}`)
    .replace(/multicast:\/\/default/g, `multicast://ferrymq-amq-test-${process.pid}`);
}

/** The package's conf folder, rewritten, in DIR/conf (ActiveMQ's layout: DIR is ${activemq.base}). */
function stage(t: Test, deadPort: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-amq-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'conf'));
  for (const f of readdirSync(EXAMPLES)) {
    const src = join(EXAMPLES, f);
    if (f.endsWith('.xml')) writeFileSync(join(dir, 'conf', f), loopback(readFileSync(src, 'utf8'), deadPort));
    else copyFileSync(src, join(dir, 'conf', f));
  }
  return dir;
}

interface Run {
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<number | null>;
}

/** `ferrymq start --conf FILE --no-console`, its JSON log lines collected; SIGKILLed at teardown if still running. */
function start(t: Test, file: string, extra: string[] = []): Run {
  const proc = spawn(process.execPath, [BIN, 'start', '--conf', file, '--no-console', ...extra], {
    cwd: tmpdir(),
    env: { ...process.env, FERRYMQ_LOG_LEVEL: 'info', ACTIVEMQ_BASE: '', ACTIVEMQ_HOME: '', ACTIVEMQ_CONF: '', ACTIVEMQ_DATA: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ msg: line });
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return { proc, logs, stderr: () => stderr, exited };
}

/** Wait for the broker's "started" line (or its exit), with a deadline naming the file. */
async function started(r: Run, file: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!r.logs.some((l) => String(l['msg']).includes(' started ('))) {
    if (r.proc.exitCode !== null) throw new Error(`${file}: exited ${r.proc.exitCode} before "started"; stderr: ${r.stderr()}`);
    if (Date.now() > deadline) throw new Error(`${file}: no "started" log line within ${timeoutMs} ms; stderr: ${r.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A STOMP CONNECT on `port`; resolves with the first frame's command. */
function stompConnect(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => s.write('CONNECT\naccept-version:1.2\nhost:x\n\n\0'));
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\n')) {
        s.destroy();
        resolve(got.slice(0, got.indexOf('\n')));
      }
    });
    s.on('error', reject);
    setTimeout(() => (s.destroy(), reject(new Error(`no STOMP answer on ${port} within 5000 ms`))), 5000).unref();
  });
}

/** Check one connector really serves: a native round trip, or a STOMP CONNECTED. */
async function serves(t: Test, url: string, protocol: string, file: string): Promise<void> {
  const port = Number(new URL(url).port);
  if (protocol === 'stomp') {
    t.equal(await stompConnect(port), 'CONNECTED', `${file}: STOMP CONNECTED on ${url}`);
    return;
  }
  const c = await connect(`tcp://127.0.0.1:${port}`);
  try {
    const sub = await c.subscribe('queue://amq.conf.check');
    await c.send('queue://amq.conf.check', file);
    t.equal((await sub.receive(5000))?.text, file, `${file}: a message sent and received on ${url}`);
  } finally {
    await c.close();
  }
}

t.test('ActiveMQ 5.17\'s conf and example files', { skip: existsSync(EXAMPLES) ? false : NOT_INSTALLED }, async (t) => {
  const deadPort = await closedPort();
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.xml')).sort();
  t.strictSame(files, Object.keys(EXPECTED).sort(), 'every XML file of the package has an expected outcome');
  for (const file of files) {
    const want = EXPECTED[file]!;
    // Each file gets its own ${activemq.base}, so stores never mix.
    const base = stage(t, deadPort);
    const r = start(t, join(base, 'conf', file));
    if ('refused' in want) {
      const code = await r.exited;
      t.equal(code, 2, `${file}: refused with exit code 2`);
      const lines = r.stderr().trim().split('\n');
      t.equal(lines.length, 1, `${file}: one line`);
      t.match(lines[0], want.refused, `${file}: ${lines[0]}`);
      continue;
    }
    await started(r, file);
    const listening = r.logs.filter((l) => l['connector'] !== undefined && String(l['msg']).includes('listening on'));
    t.strictSame(listening.map((l) => l['connector']), want.opens.map(([n]) => n), `${file}: opens ${want.opens.map(([n]) => n).join(', ') || 'nothing'}`);
    for (const [i, [, protocol]] of want.opens.entries()) await serves(t, String(listening[i]!['url']), protocol, file);
    const warnings = r.logs.filter((l) => l['level'] === 40).map((l) => String(l['msg']));
    for (const re of want.warns) t.ok(warnings.some((w) => re.test(w)), `${file}: warns ${re}`);
    t.ok(warnings.every((w) => !w.includes('\n')), `${file}: every warning is one line`);
    t.comment(`${file}: ${listening.map((l) => `${l['connector']} ${l['url']}`).join(', ') || 'no connector'}; ${warnings.length} warnings`);
    r.proc.kill('SIGTERM');
    t.equal(await r.exited, 0, `${file}: stops cleanly on SIGTERM`);
  }
});

t.test('the Debian instance\'s activemq.xml: refused without a base, starts with --base', { skip: existsSync(DEBIAN_MAIN) ? false : NOT_INSTALLED }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-amq-main-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // As shipped, in a directory not named conf/ (like /etc/activemq/instances-available/main/); only the port moves.
  mkdirSync(join(dir, 'main'));
  const file = join(dir, 'main', basename(DEBIAN_MAIN));
  writeFileSync(file, loopback(readFileSync(DEBIAN_MAIN, 'utf8'), 1));
  const refused = spawnSync(process.execPath, [BIN, 'start', '--conf', file, '--no-console'], {
    encoding: 'utf8', timeout: 20_000, env: { ...process.env, ACTIVEMQ_BASE: '', ACTIVEMQ_HOME: '' },
  });
  t.equal(refused.status, 2, 'exit code 2');
  t.match(refused.stderr.trim(), /^ferrymq: .*activemq\.xml: <beans><broker> attribute dataDirectory="\$\{activemq\.base\}\/data": cannot resolve \$\{activemq\.base\}: start with --base DIR, set ACTIVEMQ_BASE/);
  t.equal(refused.stderr.trim().split('\n').length, 1, 'one line');
  const r = start(t, file, ['--base', join(dir, 'var')]);
  await started(r, 'debian main activemq.xml');
  const listening = r.logs.filter((l) => l['connector'] !== undefined && String(l['msg']).includes('listening on'));
  t.strictSame(listening.map((l) => l['connector']), ['openwire']);
  await serves(t, String(listening[0]!['url']), 'native', 'debian main activemq.xml');
  t.ok(existsSync(join(dir, 'var', 'data', 'kahadb')), 'the store is ${activemq.base}/data/kahadb under --base');
  r.proc.kill('SIGTERM');
  t.equal(await r.exited, 0);
});
