import { request } from 'node:http';
import { connect as netConnect } from 'node:net';
import t from 'tap';
import { connect, type Connection } from '../../src/index.js';
import { startBroker } from '../helpers/broker.js';
import { startConsoleBroker, http, until } from '../helpers/console.js';

/** The web console's JSON API and /metrics, over real HTTP, against a real broker process. */

const AUTH = 'admin:pw-for-tests';
const WEB = 'port="0" user="admin" password="pw-for-tests"';

async function open(t: Tap.Test, url: string, clientId?: string): Promise<Connection> {
  const c = await connect(url, clientId !== undefined ? { clientId } : {});
  t.teardown(() => c.close());
  return c;
}
type Tap = { Test: typeof t };
declare namespace Tap {
  type Test = typeof t;
}

t.test('pages and counts: broker, queues, browse, connections, durable subscribers, metrics', async (t) => {
  const b = await startConsoleBroker(t, { webConsole: WEB, name: 'api-node' });
  const u = b.consoleUrl;
  const broker = (await http(u, 'GET', '/api/broker')).json;
  t.match(broker, { name: 'api-node', running: true, role: { kind: 'master' }, roleText: /^master \(holds lock .*LOCK\)$/, connectors: [{ url: b.url }] });
  t.equal(typeof broker.memory.limitBytes, 'number');

  const p = await open(t, b.url);
  const N = 20;
  await Promise.all(Array.from({ length: N }, (_, i) => p.send('queue://CONSOLE.A', `body-${i}`, { headers: { i } })));
  const row = (await http(u, 'GET', '/api/queues/CONSOLE.A')).json;
  t.match(row, { name: 'CONSOLE.A', dest: 'queue://CONSOLE.A', pending: N, enqueued: N, dequeued: 0, consumers: 0 });
  t.ok((await http(u, 'GET', '/api/queues')).json.some((q: { name: string }) => q.name === 'CONSOLE.A'), 'listed');

  const browsed = (await http(u, 'GET', '/api/queues/CONSOLE.A/messages?max=5')).json;
  t.equal(browsed.length, 5, 'browse honours max');
  t.match(browsed[0], { bodyType: 'text', preview: 'body-0', headers: { i: 0 }, persistent: true });
  t.equal((await http(u, 'GET', '/api/queues/CONSOLE.A')).json.pending, N, 'browsing takes nothing');

  // A consumer: its connection with client id and subscription; a durable subscriber, active then offline.
  const c = await open(t, b.url, 'console-client');
  const sub = await c.subscribe('queue://CONSOLE.A', { ack: 'client', prefetch: 3 });
  await c.subscribe('topic://CONSOLE.T', { durable: 'watcher' });
  const conn = await until('the consumer\'s connection with 3 in flight', async () => {
    const list = (await http(u, 'GET', '/api/connections')).json as { clientId: string; inflight: number; subscriptions: { dest: string }[] }[];
    return list.find((x) => x.clientId === 'console-client' && x.inflight === 3);
  });
  t.same(conn.subscriptions.map((s) => s.dest).sort(), ['queue://CONSOLE.A', 'topic://CONSOLE.T']);
  t.match((await http(u, 'GET', '/api/queues/CONSOLE.A')).json, { consumers: 1, pending: N, inflight: 3 });
  let subs = (await http(u, 'GET', '/api/subscribers')).json;
  t.match(subs, [{ clientId: 'console-client', name: 'watcher', topic: 'topic://CONSOLE.T', active: true, pending: 0 }]);
  await c.close();
  await p.send('topic://CONSOLE.T', 'for the offline subscriber');
  subs = await until('the durable subscriber offline with 1 pending', async () => {
    const s = (await http(u, 'GET', '/api/subscribers')).json;
    return s[0]?.active === false && s[0]?.pending === 1 ? s : undefined;
  });
  t.match(subs, [{ name: 'watcher', active: false, pending: 1 }]);
  t.match((await http(u, 'GET', '/api/topics')).json, [{ name: 'CONSOLE.T', enqueued: 1 }]);
  t.equal((await http(u, 'GET', '/api/queues')).json.filter((q: { dest: string }) => !q.dest.startsWith('queue://')).length, 0, 'durable queues are not listed as queues');
  void sub;

  const m = await http(u, 'GET', '/metrics');
  t.equal(m.status, 200);
  t.match(m.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.match(m.text, new RegExp(`ferrymq_destination_pending_messages\\{destination="CONSOLE.A",kind="queue"\\} ${N}\\n`));
  t.match(m.text, new RegExp(`ferrymq_destination_enqueued_messages_total\\{destination="CONSOLE.A",kind="queue"\\} ${N}\\n`));
  t.match(m.text, /ferrymq_role\{role="master"\} 1\n/);
  t.match(m.text, /ferrymq_durable_subscribers\{state="offline"\} 1\n/);
  t.match(m.text, /ferrymq_broker_running 1\n/);
  t.match(m.text, /ferrymq_store_bytes \d+/);
});

t.test('actions need credentials; send, purge, create, delete change the broker', async (t) => {
  const b = await startConsoleBroker(t, { webConsole: WEB });
  const u = b.consoleUrl;
  const p = await open(t, b.url);
  await Promise.all(Array.from({ length: 10 }, (_, i) => p.send('queue://ACT', `m${i}`)));

  const anon = await http(u, 'POST', '/api/queues/ACT/purge');
  t.equal(anon.status, 401, 'no credentials: 401');
  t.match(anon.headers['www-authenticate'], /^Basic realm="ferrymq console"/, 'asks for basic auth');
  t.match(anon.json, { code: 'FERRY_UNAUTHORIZED', error: /needs credentials/ });
  const page = await http(u, 'POST', '/api/queues/ACT/purge', { headers: { 'x-ferrymq-console': '1' } });
  t.equal(page.headers['www-authenticate'], undefined, 'the page\'s own requests get no browser password dialog');
  const wrong = await http(u, 'POST', '/api/queues/ACT/purge', { auth: 'admin:nope' });
  t.equal(wrong.status, 401);
  t.match(wrong.json.error, /wrong user or password for user "admin"/);
  t.equal((await http(u, 'GET', '/api/whoami', { auth: AUTH })).json.user, 'admin');
  t.equal((await http(u, 'GET', '/api/queues/ACT')).json.pending, 10, 'refused actions changed nothing');

  const sent = await http(u, 'POST', '/api/queues/ACT/messages', { auth: AUTH, body: { body: 'from the console', headers: { origin: 'test' }, priority: 9, count: 3 } });
  t.equal(sent.status, 200, sent.text);
  t.same(sent.json, { sent: 3, dest: 'queue://ACT' });
  const first = (await http(u, 'GET', '/api/queues/ACT/messages?max=1')).json[0];
  t.match(first, { preview: 'from the console', priority: 9, headers: { origin: 'test' }, persistent: true }, 'priority 9 comes first');
  const consumer = await open(t, b.url);
  const s = await consumer.subscribe('queue://ACT');
  const got = await s.receive(5000);
  t.equal(got?.body, 'from the console', 'a client receives the console\'s message as text');
  await s.close();

  const purged = await http(u, 'POST', '/api/queues/ACT/purge', { auth: AUTH });
  t.equal(purged.status, 200, purged.text);
  t.equal(purged.json.purged, 12, '10 + 3 sent - 1 received');
  t.match((await http(u, 'GET', '/api/queues/ACT')).json, { pending: 0 });

  const created = await http(u, 'POST', '/api/queues', { auth: AUTH, body: { name: 'MADE.HERE' } });
  t.equal(created.status, 201);
  t.same(created.json, { created: true, dest: 'queue://MADE.HERE' });
  t.equal((await http(u, 'POST', '/api/queues', { auth: AUTH, body: { name: 'MADE.HERE' } })).json.created, false, 'creating twice is no error');
  t.equal((await http(u, 'GET', '/api/queues/MADE.HERE')).status, 200);
  t.equal((await http(u, 'POST', '/api/topics', { auth: AUTH, body: { name: 'NEWS' } })).status, 201);
  t.equal((await http(u, 'POST', '/api/topics/NEWS/messages', { auth: AUTH, body: { body: 'x', persistent: false } })).json.sent, 1);
  const del = await http(u, 'DELETE', '/api/queues/MADE.HERE', { auth: AUTH });
  t.same(del.json, { deleted: 'queue://MADE.HERE', messages: 0 });
  t.equal((await http(u, 'GET', '/api/queues/MADE.HERE')).status, 404, 'gone');
  t.ok(b.logs.some((l) => l['msg'] === 'console: admin purged queue://ACT (12 messages)'), 'actions are logged with the user');
});

t.test('bad input gets a 4xx naming the problem, and the console keeps serving', async (t) => {
  const b = await startConsoleBroker(t, { webConsole: WEB });
  const u = b.consoleUrl;
  const cases: [string, string, Parameters<typeof http>[3], number, RegExp][] = [
    ['GET', '/api/queues/X/messages?max=abc', {}, 404, /no queue "X"/],
    ['GET', '/api/nothing', {}, 404, /GET \/api lists the endpoints/],
    ['GET', '/nothing', {}, 404, /the console's pages are/],
    ['PUT', '/api/queues', {}, 405, /PUT is not allowed on \/api\/queues; use GET or POST/],
    ['GET', '/api/queues/%E0%A4%A', {}, 400, /malformed percent-encoding/],
    ['POST', '/api/queues', { auth: AUTH, raw: '{"name":', headers: { 'content-type': 'application/json' } }, 400, /not valid JSON/],
    ['POST', '/api/queues', { auth: AUTH, raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 400, /must be application\/json/],
    ['POST', '/api/queues', { auth: AUTH, body: [1] }, 400, /must be a JSON object/],
    ['POST', '/api/queues', { auth: AUTH, body: { name: 7 } }, 400, /name must be a string/],
    ['POST', '/api/queues', { auth: AUTH, body: { name: '' } }, 400, /queue name is empty/],
    ['POST', '/api/queues', { auth: AUTH, body: { name: 'A.>' } }, 400, /cannot be a wildcard/],
    ['POST', '/api/queues', { auth: AUTH, body: { name: 'bad\u0001name' } }, 400, /control character/],
    ['POST', '/api/queues/Q/messages', { auth: AUTH, body: {} }, 400, /body must be a string/],
    ['POST', '/api/queues/Q/messages', { auth: AUTH, body: { body: 'x', priority: 12 } }, 400, /priority must be an integer 0..9, got 12/],
    ['POST', '/api/queues/Q/messages', { auth: AUTH, body: { body: 'x', count: 5000 } }, 400, /count must be an integer 1..1000/],
    ['POST', '/api/queues/Q/messages', { auth: AUTH, body: { body: 'x', persistent: 'yes' } }, 400, /persistent must be true or false/],
    ['POST', '/api/queues/Q/messages', { auth: AUTH, body: { body: 'x', headers: { a: {} } } }, 400, /header "a" must be a string/],
    ['POST', '/api/queues/Q/messages', { auth: AUTH, raw: 'x'.repeat(1024 * 1024 + 10), headers: { 'content-type': 'application/json' } }, 413, /over the 1048576 byte limit/],
    ['POST', '/api/queues/NOPE/purge', { auth: AUTH }, 404, /no queue "NOPE"/],
    ['DELETE', '/api/topics/NOPE', { auth: AUTH }, 404, /no topic "NOPE"/],
    ['POST', '/api/queues/Q/purge', { auth: 'admin' }, 401, /Authorization header/],
    ['POST', '/api/queues', { auth: AUTH, body: { name: 'x' }, headers: { origin: 'http://evil.example' } }, 403, /cross-origin POST from http:\/\/evil.example refused/],
  ];
  // A queue that exists for the max=abc case to be about max.
  await http(u, 'POST', '/api/queues', { auth: AUTH, body: { name: 'X' } });
  cases[0] = ['GET', '/api/queues/X/messages?max=abc', {}, 400, /max must be an integer 1..1000, got "abc"/];
  for (const [method, path, opts, status, re] of cases) {
    const r = await http(u, method, path, opts);
    t.equal(r.status, status, `${method} ${path}: ${status}`);
    t.match(r.json?.error, re, `${method} ${path}: ${r.json?.error}`);
  }
  // Not HTTP at all: 400 and close; the server goes on.
  const garbage = await new Promise<string>((resolve, reject) => {
    const s = netConnect(Number(new URL(u).port), '127.0.0.1', () => s.write('\x00\x01 nonsense\r\n\r\n'));
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('close', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('no answer to garbage within 5 s')));
  });
  t.match(garbage, /^HTTP\/1\.1 400 Bad Request/);
  t.equal((await http(u, 'GET', '/api/broker')).status, 200, 'still serving');
  t.notOk(b.logs.some((l) => Number(l['level']) >= 50), 'no error logged');
});

t.test('a console without credentials is read-only; a broker without a store lock is standalone', async (t) => {
  const b = await startConsoleBroker(t, { webConsole: 'port="0"', brokerAttrs: 'persistent="false"' });
  t.match((await http(b.consoleUrl, 'GET', '/api/broker')).json, { running: true, role: { kind: 'standalone' }, roleText: 'standalone', store: { kind: 'memory' } });
  const r = await http(b.consoleUrl, 'POST', '/api/queues', { auth: AUTH, body: { name: 'X' } });
  t.equal(r.status, 403);
  t.match(r.json.error, /actions are disabled: this console has no credentials/);
  t.equal((await http(b.consoleUrl, 'GET', '/api/queues')).status, 200, 'pages stay open');
  t.match(b.logs.find((l) => l['consoleUrl'] !== undefined), { actions: false });
});

t.test('live updates: a stats event every second, a change event on broker events', async (t) => {
  const b = await startConsoleBroker(t, { webConsole: WEB });
  const events: { event: string; data: any }[] = [];
  const waiters: (() => void)[] = [];
  const req = request(new URL('/api/events', b.consoleUrl), (res) => {
    t.match(res.headers['content-type'], /^text\/event-stream/);
    let buf = '';
    res.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (ev !== undefined && data !== undefined) events.push({ event: ev, data: JSON.parse(data) });
        for (const w of waiters.splice(0)) w();
      }
    });
  });
  req.end();
  t.teardown(() => req.destroy());
  const waitEvent = (what: string, pred: (e: { event: string; data: any }) => boolean, timeoutMs = 10_000) =>
    until(what, async () => events.find(pred), timeoutMs);
  await waitEvent('the first stats event', (e) => e.event === 'stats');
  const p = await open(t, b.url);
  await Promise.all(Array.from({ length: 7 }, () => p.send('queue://LIVE', 'x')));
  const s = await waitEvent('a stats event with LIVE at 7 pending', (e) => e.event === 'stats' && e.data.queues.some((q: any) => q.name === 'LIVE' && q.pending === 7));
  t.ok(s.data.broker.running);
  const ch = await waitEvent('a change event naming the new destination and connection', (e) => e.event === 'change' && e.data.events.destinationAdded >= 1);
  t.ok(ch.data.events.connectionOpened >= 1, 'the producer\'s connection is in it too');
  const rates = await until('a rate sample counting the 7 messages', async () => {
    const r = (await http(b.consoleUrl, 'GET', '/api/queues/LIVE/rates')).json;
    return r.in.reduce((a: number, x: number) => a + x, 0) > 0 ? r : undefined;
  });
  t.equal(rates.t.length, rates.in.length);
});

t.test('network page: a bridge, its peer and its demand', async (t) => {
  const peer = await startBroker(t, { args: ['--name', 'peer-b'] });
  const a = await startConsoleBroker(t, { name: 'node-a', args: ['--network', `static:(${peer.url})`] });
  const pc = await open(t, peer.url);
  await pc.subscribe('queue://BRIDGED');
  const net = await until('the bridge up to peer-b with demand for queue://BRIDGED', async () => {
    const n = (await http(a.consoleUrl, 'GET', '/api/network')).json;
    const br = n[0]?.bridges[0];
    return br?.up && br.demand.some((d: { dest: string }) => d.dest === 'queue://BRIDGED') ? n : undefined;
  });
  t.match(net, [{ name: 'cli-network0', bridges: [{ up: true, remoteBroker: 'peer-b', forwarded: 0 }] }]);
  const p = await open(t, a.url);
  await p.send('queue://BRIDGED', 'over the bridge');
  const fwd = await until('Forwarded 1 on the queue', async () => {
    const q = (await http(a.consoleUrl, 'GET', '/api/queues/BRIDGED')).json;
    return q.forwarded === 1 ? q : undefined;
  });
  t.equal(fwd.forwarded, 1);
  const m = await http(a.consoleUrl, 'GET', '/metrics');
  t.match(m.text, /ferrymq_bridge_up\{connector="cli-network0",bridge="[^"]+",remote_broker="peer-b"\} 1/);
  t.match(m.text, /ferrymq_bridge_forwarded_messages_total\{connector="cli-network0",bridge="[^"]+"\} 1/);
});
