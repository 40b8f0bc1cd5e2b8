import t from 'tap';
import { connect, FrameTooLargeError } from '../../src/index.js';
import { startBroker } from '../helpers/broker.js';
import { RawPeer } from '../helpers/raw.js';

t.test('oversize frame: ERROR naming the limit, then close; others unaffected', async (t) => {
  const b = await startBroker(t, { query: 'wireFormat.maxFrameSize=4096' });
  const good = await connect(b.url);
  t.teardown(() => good.close());
  const sub = await good.subscribe('queue://ok');
  const bad = await RawPeer.connected(b.port);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(1_000_000);
  bad.write(h); // header only: the broker must answer without waiting for the body
  const err = await bad.waitFor((c) => c['t'] === 'ERROR', 'ERROR');
  t.equal(err['code'], 'FERRY_FRAME_TOO_LARGE');
  t.match(err['message'], /1000000 bytes exceeds wireFormat\.maxFrameSize=4096/);
  await bad.waitClosed('after oversize frame');
  await good.send('queue://ok', 'still fine');
  t.equal((await sub.receive(5000))?.text, 'still fine', 'another client keeps working');
});

t.test('client refuses a message larger than the broker maxFrameSize', async (t) => {
  const b = await startBroker(t, { query: 'wireFormat.maxFrameSize=4096' });
  const c = await connect(b.url);
  t.teardown(() => c.close());
  t.equal(c.maxFrameSize, 4096, 'CONNECTED advertises the limit');
  await t.rejects(c.send('queue://big', Buffer.alloc(10_000)), FrameTooLargeError);
  await t.rejects(c.send('queue://big', Buffer.alloc(10_000), { persistent: false }), /exceeds the broker's wireFormat\.maxFrameSize=4096/);
  await c.send('queue://big', 'small');
  const s = await c.subscribe('queue://big');
  t.equal((await s.receive(5000))?.text, 'small', 'the connection lives on; only the small one was sent');
  await c.send('queue://big', 'barrier');
  t.equal((await s.receive(5000))?.text, 'barrier', 'nothing else was stored: a later message comes next');
});

t.test('maximumConnections: the extra connection gets an ERROR saying so', async (t) => {
  const b = await startBroker(t, { query: 'maximumConnections=2' });
  const a1 = await RawPeer.connected(b.port);
  const a2 = await RawPeer.connected(b.port);
  const extra = await RawPeer.open(b.port);
  const err = await extra.waitFor((c) => c['t'] === 'ERROR', 'ERROR');
  t.equal(err['code'], 'FERRY_TOO_MANY_CONNECTIONS');
  t.match(err['message'], /maximumConnections=2/);
  await extra.waitClosed('refused connection');
  await t.rejects(connect(b.url), { code: 'FERRY_TOO_MANY_CONNECTIONS' }, 'the client surfaces the refusal');
  a1.destroy();
  await a1.done;
  // The freed slot is usable again (the broker notices the close asynchronously).
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    try {
      const c = await connect(b.url);
      await c.close();
      ok = true;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  t.ok(ok, 'a freed slot accepts a new connection');
  a2.destroy();
});

t.test('protocol state: nothing before CONNECT, one CONNECT only, unknown commands', async (t) => {
  const b = await startBroker(t);
  const p = await RawPeer.open(b.port);
  p.send({ t: 'SEND', dest: 'q', body: Buffer.from('x') });
  const e1 = await p.waitFor((c) => c['t'] === 'ERROR', 'ERROR');
  t.equal(e1['code'], 'FERRY_NOT_CONNECTED');
  await p.waitClosed('SEND before CONNECT');

  const q = await RawPeer.connected(b.port);
  q.send({ t: 'TELEPORT', rid: 5 });
  const e2 = await q.waitFor((c) => c['t'] === 'ERROR', 'ERROR');
  t.equal(e2['code'], 'FERRY_UNKNOWN_COMMAND');
  t.notOk(q.closed, 'an unknown command is not fatal');
  q.send({ t: 'SEND', dest: 'q', body: 'not binary', rid: 9 });
  const e3 = await q.waitFor((c) => c['t'] === 'ERROR' && c['code'] === 'FERRY_INVALID_COMMAND', 'invalid SEND');
  t.match(e3['message'], /SEND\.body must be binary/);
  q.send({ t: 'PING' });
  await q.waitFor((c) => c['t'] === 'PONG', 'PONG');
  q.send({ t: 'CONNECT', v: [1] });
  const e4 = await q.waitFor((c) => c['code'] === 'FERRY_ALREADY_CONNECTED', 'second CONNECT');
  t.ok(e4['fatal'], 'second CONNECT is fatal');
  await q.waitClosed('second CONNECT');

  const v = await RawPeer.open(b.port);
  v.send({ t: 'CONNECT', v: [99] });
  const e5 = await v.waitFor((c) => c['t'] === 'ERROR', 'version ERROR');
  t.equal(e5['code'], 'FERRY_VERSION');
});

t.test('inactivity: a silent peer is closed soon after the deadline', async (t) => {
  const b = await startBroker(t, { query: 'wireFormat.maxInactivityDuration=600' });
  // The clock starts before the connection opens: the broker's silence is counted from its own read of CONNECT,
  // which is after this, so the lower bound holds however late CONNECTED reaches the test on a busy machine.
  const start = Date.now();
  const p = await RawPeer.connected(b.port);
  const connected = p.received.find((c) => c['t'] === 'CONNECTED')!;
  t.equal(connected['heartbeat'], 600, 'negotiated inactivity duration');
  const err = await p.waitFor((c) => c['code'] === 'FERRY_INACTIVITY', 'inactivity ERROR', 15_000);
  const took = Date.now() - start;
  // Never before the deadline; the upper bound only catches "never" (timers run late on a busy machine).
  t.ok(took >= 600 && took < 10_000, `closed after ${took} ms`);
  t.match(err['message'], /no frame from the client/);
  t.ok(p.received.some((c) => c['t'] === 'PING'), 'broker pinged the idle peer first');
  await p.waitClosed('after the inactivity ERROR');
  // A client that answers keeps its connection: the bundled client pings on its own. The clock is event-driven:
  // two silent peers, one after the other, each closed for inactivity, span more than 2 inactivity durations.
  const c = await connect(b.url);
  t.teardown(() => c.close());
  const events: string[] = [];
  c.on('status', (s: { type: string }) => events.push(s.type));
  const since = Date.now();
  for (let i = 0; i < 2; i++) {
    const silent = await RawPeer.connected(b.port);
    await silent.waitFor((m) => m['code'] === 'FERRY_INACTIVITY', `silent peer ${i} timed out`, 15_000);
  }
  t.ok(Date.now() - since >= 1200, `${Date.now() - since} ms: over two inactivity durations`);
  t.same(events, [], 'the bundled client was never interrupted');
  await c.send('queue://alive', 'x');
  t.pass('and its connection still carries a persistent send');
});

t.test('a consumer that does not read: deliveries pause at the socket, not at its huge prefetch', async (t) => {
  const b = await startBroker(t);
  const p = await connect(b.url);
  t.teardown(() => p.close());
  const N = 3000;
  const body = Buffer.alloc(10 * 1024, 5); // 30 MB in all
  for (let i = 0; i < N; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, k) => p.send('queue://stuck', body, { headers: { i: i + k } })));
  }
  const raw = await RawPeer.connected(b.port);
  raw.socket.pause(); // never reads: the broker's writes back up
  raw.send({ t: 'SUBSCRIBE', sid: 1, dest: 'queue://stuck', prefetch: 1_000_000, rid: 1 });
  // The broker keeps dispatching until the socket is congested; wait until the in-flight count stops moving.
  let inflight = -1;
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = (await p.stats()).find((s) => s.name === 'queue://stuck')!.inflight;
    if (now === inflight && now > 0) break;
    inflight = now;
  }
  t.ok(inflight > 0 && inflight < 1500, `${inflight} of ${N} in flight to a consumer that reads nothing (prefetch 1,000,000)`);
  // Once it reads, the rest flows.
  raw.socket.resume();
  await raw.waitFor((c) => c['t'] === 'MESSAGE' && c['tag'] === N, `delivery ${N}`, 20_000);
  t.equal(raw.received.filter((c) => c['t'] === 'MESSAGE').length, N, `all ${N} delivered once it reads`);
  raw.destroy();
});

t.test('a request the broker finds malformed is answered with its own rid: the client does not hang', async (t) => {
  const b = await startBroker(t);
  const c = await connect(b.url);
  t.teardown(() => c.close());
  await t.rejects(c.send('queue://x', 'y', { priority: 12 }), { code: 'FERRY_INVALID_COMMAND', message: /SEND\.priority must be an integer from 0 to 9/ });
  await t.rejects(c.subscribe('queue://x', { prefetch: 0 }), { code: 'FERRY_INVALID_COMMAND', message: /SUBSCRIBE\.prefetch/ });
  await c.send('queue://x', 'fine');
  t.pass('the connection goes on');
});
