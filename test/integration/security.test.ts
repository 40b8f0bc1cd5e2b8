/**
 * `<simpleAuthenticationPlugin>` and `<authorizationPlugin>` on a real broker process: refused logins (wrong
 * password, unknown user, anonymous) over the native protocol and STOMP, logged with the address and never the
 * password; repeated failures slowed down; and every combination of read/write/admin on one destination pattern,
 * where a refused operation is answered FERRY_NOT_AUTHORIZED and changes nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { connect, type Connection, type DestinationStats, SecurityError } from '../../src/index.js';
import { hashPassword } from '../../src/security/passwords.js';
import { BIN, type BrokerProcess, startBroker, tempDir, type Teardown } from '../helpers/broker.js';
import { http } from '../helpers/console.js';
import { runToEnd } from '../helpers/proc.js';
import { StompPeer } from '../helpers/stomp-peer.js';

/** Groups R, W and A hold read, write and admin on queue SEC.>; a user per combination, named after it. */
const COMBOS = ['', 'R', 'W', 'A', 'RW', 'RA', 'WA', 'RWA'];
const userOf = (combo: string): string => `u${combo || '0'}`;
const pw = (user: string): string => `${user}-secret`;

interface Secured {
  b: BrokerProcess;
  url: string;
  stompPort: number;
}

async function securedBroker(t: Teardown, extra = '', consoleXml = ''): Promise<Secured> {
  const dir = tempDir(t, 'ferrymq-sec-');
  const hashed = await hashPassword('boss-secret');
  const users = COMBOS.map((c) => `<authenticationUser username="${userOf(c)}" password="${pw(userOf(c))}" groups="${[...c].join(',')}"/>`);
  const conf = join(dir, 'secure.xml');
  writeFileSync(conf, `<broker brokerName="sec" persistent="false">
    ${consoleXml}
    <plugins>
      <simpleAuthenticationPlugin>
        <users>
          <authenticationUser username="boss" password="${hashed}" groups="admins"/>
          ${users.join('\n          ')}
        </users>
      </simpleAuthenticationPlugin>
      <authorizationPlugin><map><authorizationMap><authorizationEntries>
        <authorizationEntry queue=">" read="admins" write="admins" admin="admins"/>
        <authorizationEntry topic=">" read="admins" write="admins" admin="admins"/>
        <authorizationEntry queue="SEC.>" read="R" write="W" admin="A"/>
        <authorizationEntry topic="SEC.>" read="R" write="W" admin="A"/>
        ${extra}
      </authorizationEntries></authorizationMap></map></authorizationPlugin>
    </plugins>
    <transportConnectors>
      <transportConnector name="openwire" uri="tcp://127.0.0.1:0"/>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:0"/>
    </transportConnectors>
  </broker>`);
  const b = await startBroker(t, { noTransport: true, args: ['--conf', conf], console: consoleXml !== '' });
  const stomp = await b.waitForLog((l) => l['connector'] === 'stomp' && String(l['msg']).includes('listening'), 'stomp connector listening');
  return { b, url: b.url, stompPort: Number(new URL(String(stomp['url'])).port) };
}

async function login(t: Teardown, url: string, user: string, password = pw(user), clientId?: string): Promise<Connection> {
  const c = await connect(url, { user, password, ...(clientId !== undefined ? { clientId } : {}) });
  t.teardown(() => c.close());
  return c;
}

/** The code an operation failed with, or 'ok'. */
async function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (e as { code?: string }).code ?? String(e),
  );
}

t.test('refused logins: wrong password, unknown user, anonymous; logged with the address, never the password', async (t) => {
  const { b, url, stompPort } = await securedBroker(t);
  const tries: [string, () => Promise<unknown>][] = [
    ['wrong password', () => connect(url, { user: 'uR', password: 'not-the-password' })],
    ['unknown user', () => connect(url, { user: 'mallory', password: 'uR-secret' })],
    ['anonymous', () => connect(url)],
  ];
  for (const [what, attempt] of tries) {
    const err = await attempt().then(() => null, (e: unknown) => e);
    t.type(err, SecurityError, `${what}: SecurityError`);
    t.equal((err as SecurityError).code, 'FERRY_AUTHENTICATION_FAILED', `${what}: FERRY_AUTHENTICATION_FAILED`);
  }
  const boss = await login(t, url, 'boss');
  await boss.send('queue://SEC.hello', 'hi');
  t.pass('the scrypt-hashed user logs in and sends');
  // STOMP: the same users; a refusal is an ERROR frame, then the close.
  const bad = await StompPeer.open(stompPort);
  t.teardown(() => bad.socket.destroy());
  bad.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: 'uR', passcode: 'nope' });
  await bad.error(t, /authentication failed for user uR/);
  const good = await StompPeer.connected(stompPort, { 'accept-version': '1.2', host: 'localhost', login: 'uRWA', passcode: 'uRWA-secret' });
  t.teardown(() => good.socket.destroy());
  good.send('SEND', { destination: '/queue/SEC.stomp', receipt: 'r1' }, 'x');
  await good.waitFor((f) => f.command === 'RECEIPT' && f.headers.get('receipt-id') === 'r1');
  good.send('SEND', { destination: '/queue/ELSEWHERE', receipt: 'r2' }, 'x');
  await good.error(t, /user uRWA may not send queue:\/\/ELSEWHERE/);
  // Log lines come through another pipe than the ERROR frame: wait for the last one.
  await b.waitForLog((l) => l['module'] === 'broker' && l['protocol'] === 'stomp' && /^authentication failed for user uR /.test(String(l['msg'])), 'the STOMP refusal logged');
  const failed = b.logs.filter((l) => l['module'] === 'broker' && /^authentication failed for /.test(String(l['msg'])));
  t.equal(failed.length, 4, 'each refusal logged once by the broker');
  for (const l of failed) {
    t.match(l['msg'], /(user \w+|without credentials) from 127\.0\.0\.1:\d+$/, `with the remote address: ${String(l['msg'])}`);
    t.match(l['remote'], /^127\.0\.0\.1:\d+$/);
  }
  const all = b.logs.map((l) => JSON.stringify(l)).join('\n');
  for (const secret of ['not-the-password', 'uR-secret', 'nope', 'boss-secret', 'uRWA-secret']) t.notOk(all.includes(secret), `no log line holds ${secret}`);
});

t.test('repeated failures from one address are delayed more and more; a success clears them', async (t) => {
  const { b, url } = await securedBroker(t);
  const took: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t0 = Date.now();
    t.equal(await outcome(connect(url, { user: 'uR', password: `guess${i}` })), 'FERRY_AUTHENTICATION_FAILED', `guess ${i + 1} refused`);
    took.push(Date.now() - t0);
  }
  // Delays before attempts 3..6: 250, 500, 1000, 2000 ms (DEFAULT_LOGIN_DELAY_BASE_MS, doubling).
  t.ok(took[5]! >= 1900, `the 6th attempt waited (${took.join(', ')} ms)`);
  t.ok(took[5]! > took[2]!, 'longer than the 3rd');
  await b.waitForLog((l) => String(l['msg']).startsWith('repeated failed logins from 127.0.0.1 (5)'), 'a warning about the address');
  const t0 = Date.now();
  const c = await login(t, url, 'uR');
  const delayed = Date.now() - t0;
  t.ok(delayed >= 3900, `the right password waits its turn too (${delayed} ms)`);
  await c.close();
  const t1 = Date.now();
  await (await login(t, url, 'uR')).close();
  t.ok(Date.now() - t1 < delayed, `and then the address starts afresh (${Date.now() - t1} ms)`);
});

t.test('read, write and admin on SEC.>: every combination, every operation; a refusal changes nothing', async (t) => {
  const { url } = await securedBroker(t);
  const boss = await login(t, url, 'boss');
  // What each user works on, made by the admin beforehand (so only creation needs admin).
  await boss.send('queue://SEC.shared', 'seed');
  await boss.send('queue://SEC.subscribed', 'seed');
  await boss.purge('queue://SEC.subscribed');
  for (const c of COMBOS) {
    await boss.send(`queue://SEC.purge.${userOf(c)}`, 'keep?');
    await boss.send(`queue://SEC.delete.${userOf(c)}`, 'keep?');
  }
  const got: Record<string, Record<string, string>> = {};
  const want: Record<string, Record<string, string>> = {};
  for (const combo of COMBOS) {
    const u = userOf(combo);
    const c = await login(t, url, u);
    const r = combo.includes('R');
    const w = combo.includes('W');
    const a = combo.includes('A');
    const ok = (allowed: boolean): string => (allowed ? 'ok' : 'FERRY_NOT_AUTHORIZED');
    want[u] = {
      send: ok(w),
      sendCreating: ok(w && a),
      subscribe: ok(r),
      subscribeCreating: ok(r && a),
      browse: ok(r),
      purge: ok(a),
      delete: ok(a),
    };
    const sub = (dest: string): Promise<unknown> => c.subscribe(dest).then((s) => s.close());
    got[u] = {
      send: await outcome(c.send('queue://SEC.shared', `from ${u}`)),
      sendCreating: await outcome(c.send(`queue://SEC.new.${u}`, 'x')),
      subscribe: await outcome(sub('queue://SEC.subscribed')),
      subscribeCreating: await outcome(sub(`queue://SEC.sub.${u}`)),
      browse: await outcome(c.browse('queue://SEC.shared')),
      purge: await outcome(c.purge(`queue://SEC.purge.${u}`)),
      delete: await outcome(c.deleteDestination(`queue://SEC.delete.${u}`)),
    };
  }
  t.strictSame(got, want, 'each operation allowed exactly by its permission (create: admin besides write or read)');
  // Nothing else happened: look as the admin.
  const stats = new Map((await boss.stats()).map((s: DestinationStats) => [s.name, s]));
  t.equal(stats.get('queue://SEC.shared')?.enqueueCount, 1 + 4, 'SEC.shared holds the seed and one message per writer');
  for (const combo of COMBOS) {
    const u = userOf(combo);
    const w = combo.includes('W');
    const r = combo.includes('R');
    const a = combo.includes('A');
    t.equal(stats.has(`queue://SEC.new.${u}`), w && a, `${u}: SEC.new.${u} ${w && a ? 'created' : 'not created'}`);
    t.equal(stats.has(`queue://SEC.sub.${u}`), r && a, `${u}: SEC.sub.${u} ${r && a ? 'created' : 'not created'}`);
    t.equal(stats.get(`queue://SEC.purge.${u}`)?.queueSize, a ? 0 : 1, `${u}: SEC.purge.${u} ${a ? 'purged' : 'untouched'}`);
    t.equal(stats.has(`queue://SEC.delete.${u}`), !a, `${u}: SEC.delete.${u} ${a ? 'deleted' : 'still there'}`);
  }
  const denied = await login(t, url, 'uW');
  t.equal(await outcome(denied.send('queue://OTHER', 'x')), 'FERRY_NOT_AUTHORIZED', 'outside SEC.> a writer may not send');
  t.equal(await outcome(denied.send('queue://SEC.shared', 'again')), 'ok', 'and the connection lives on');
});

t.test('removing a durable subscription needs read on its topic; wildcards need a pattern that covers them', async (t) => {
  const { url } = await securedBroker(t, '<authorizationEntry topic="SEC.open.*" read="W"/>');
  const reader = await login(t, url, 'uRA', pw('uRA'), 'reader-app');
  const sub = await reader.subscribe('topic://SEC.news', { durable: 'news' });
  await sub.close();
  // The same client id, as a user without read: may not remove it.
  await reader.close();
  const writer = await login(t, url, 'uWA', pw('uWA'), 'reader-app');
  t.equal(await outcome(writer.unsubscribe('news')), 'FERRY_NOT_AUTHORIZED', 'a user without read may not remove it');
  await writer.close();
  const again = await login(t, url, 'uRA', pw('uRA'), 'reader-app');
  t.equal(await outcome(again.unsubscribe('news')), 'ok', 'its reader may');
  const w = await login(t, url, 'uW');
  t.equal(await outcome(w.subscribe('topic://SEC.open.*').then((s) => s.close())), 'ok', 'SEC.open.* covers a SEC.open.* subscription');
  t.equal(await outcome(w.subscribe('topic://SEC.open.>').then((s) => s.close())), 'FERRY_NOT_AUTHORIZED', 'but not SEC.open.> (it names more)');
});

t.test('the CLI takes --user and --password (or FERRYMQ_PASSWORD)', async (t) => {
  const { url } = await securedBroker(t);
  const run = (args: string[], env: Record<string, string> = {}): ReturnType<typeof runToEnd> =>
    runToEnd(t, process.execPath, [BIN, ...args, '--url', url], { timeoutMs: 20_000, env });
  const sent = await run(['producer', '--count', '5', '--destination', 'SEC.cli', '--user', 'uWA', '--password', 'uWA-secret']);
  t.equal(sent.code, 0, `producer --user --password (${sent.stderr})`);
  const got = await run(['consumer', '--count', '5', '--destination', 'SEC.cli', '--user', 'uR', '--json'], { FERRYMQ_PASSWORD: 'uR-secret' });
  t.equal(got.code, 0, `consumer with FERRYMQ_PASSWORD (${got.stderr})`);
  t.match(JSON.parse(got.stdout.trim().split('\n').at(-1)!), { received: 5, unique: 5 });
  const none = await run(['dstat']);
  t.equal(none.code, 1, 'without credentials dstat fails');
  t.match(none.stderr, /authentication failed for a connection without credentials/);
  const purge = await run(['purge', '--destination', 'SEC.cli', '--user', 'uR', '--password', 'uR-secret']);
  t.match(purge.stderr, /user uR may not purge queue:\/\/SEC\.cli/, 'a refused purge says who may not do what');
});

t.test('failed console logins are logged with the address and delayed like any other', async (t) => {
  const { b } = await securedBroker(t, '', '<webConsole host="127.0.0.1"/>');
  const u = String((await b.waitForLog((l) => typeof l['consoleUrl'] === 'string', 'web console at'))['consoleUrl']);
  const took: number[] = [];
  for (let i = 0; i < 4; i++) {
    const t0 = Date.now();
    t.equal((await http(u, 'POST', '/api/queues/SEC.c/purge', { auth: `uR:console-guess${i}` })).status, 401, `guess ${i + 1}: 401`);
    took.push(Date.now() - t0);
  }
  // Delays before attempts 3 and 4: 250 and 500 ms (the broker's login delay, per address).
  t.ok(took[3]! >= 490, `the 4th attempt waited (${took.join(', ')} ms)`);
  const l = await b.waitForLog((r) => String(r['msg']).startsWith('console login failed for user uR from 127.0.0.1:'), 'a console refusal with its address');
  t.match(l['remote'], /^127\.0\.0\.1:\d+$/);
  const all = b.logs.map((r) => JSON.stringify(r)).join('\n');
  t.notOk(all.includes('console-guess'), 'no log line holds a tried password');
});

t.test('the web console logs in with the same users, and its actions are authorized like any session', async (t) => {
  const { b, url } = await securedBroker(t, '', '<webConsole host="127.0.0.1" user="admin" password="admin"/>');
  const u = String((await b.waitForLog((l) => typeof l['consoleUrl'] === 'string', 'web console at'))['consoleUrl']);
  await b.waitForLog((l) => String(l['msg']).startsWith('<webConsole user password> is not used'), 'a warning that admin/admin is not used');
  const boss = await login(t, url, 'boss');
  await boss.send('queue://SEC.console', 'one');
  t.equal((await http(u, 'POST', '/api/queues/SEC.console/purge', { auth: 'admin:admin' })).status, 401, '<webConsole> admin/admin is not a user');
  t.equal((await http(u, 'POST', '/api/queues/SEC.console/purge', { auth: 'uR:nope' })).status, 401, 'a wrong password: 401');
  const denied = await http(u, 'POST', '/api/queues/SEC.console/purge', { auth: 'uR:uR-secret' });
  t.equal(denied.status, 403, 'a user without admin: 403');
  t.match(denied.json, { error: /user uR may not purge queue:\/\/SEC\.console/, code: 'FERRY_NOT_AUTHORIZED' });
  t.equal((await http(u, 'GET', '/api/queues/SEC.console/messages')).status, 401, 'anonymous browsing: log in first');
  const browsed = await http(u, 'GET', '/api/queues/SEC.console/messages', { auth: 'uR:uR-secret' });
  t.equal(browsed.status, 200, 'a reader browses');
  t.equal(browsed.json.length, 1);
  const purged = await http(u, 'POST', '/api/queues/SEC.console/purge', { auth: 'uRA:uRA-secret' });
  t.equal(purged.status, 200, 'a user with admin purges');
  t.match(purged.json, { purged: 1 });
});
