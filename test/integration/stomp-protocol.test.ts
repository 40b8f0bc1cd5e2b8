import t from 'tap';
import { startStompBroker } from '../helpers/broker.js';
import { type H, StompPeer as Peer } from '../helpers/stomp-peer.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A RECEIPT round trip on `p`: every frame sent before it has been handled, dispatch included. */
async function roundTrip(p: Peer, id: string): Promise<void> {
  p.send('BEGIN', { transaction: `rt-${id}`, receipt: `rt-${id}` });
  await p.waitFor((f) => f.headers.get('receipt-id') === `rt-${id}`);
  p.send('ABORT', { transaction: `rt-${id}` });
}

/**
 * Instead of "wait and see that nothing came": send a marker to the queue after everything else, wait for it on
 * subscription `sub`, and drop it from the frames. Anything still due would have come before it.
 */
async function barrier(p: Peer, sub: string, dest: string): Promise<void> {
  const mark = `barrier-${Math.random()}`;
  p.send('SEND', { destination: dest }, mark);
  await p.waitFor((f) => f.command === 'MESSAGE' && f.headers.get('subscription') === sub && f.body.toString() === mark);
  p.frames.splice(p.frames.findIndex((f) => f.body.toString() === mark), 1);
}

t.test('version negotiation and CONNECTED', async (t) => {
  const b = await startStompBroker(t);
  const v10 = await Peer.open(b.stompPort);
  v10.send('CONNECT', { login: 'guest', passcode: 'guest' });
  const c10 = await v10.waitFor('CONNECTED');
  t.notOk(c10.headers.has('version'), 'no accept-version: STOMP 1.0, no version header');
  t.ok(c10.headers.get('session'));
  t.match(c10.headers.get('server'), /^ferrymq\/\d+\.\d+\.\d+/);
  t.notOk(c10.headers.has('heart-beat'), '1.0 without heart-beat: none');

  for (const [accept, want] of [['1.0,1.1', '1.1'], ['1.2,1.1', '1.2'], ['1.1 , 2.0', '1.1'], ['1.0', '1.0']] as const) {
    const p = await Peer.connected(b.stompPort, { 'accept-version': accept, host: 'localhost' });
    const c = p.frames[0]!;
    t.equal(c.headers.get('version'), want, `accept-version ${accept} -> ${want}`);
    if (want !== '1.0') t.equal(c.headers.get('heart-beat'), '0,10000', 'heart-beat: the broker asks for one every D/3');
    p.socket.destroy();
  }
  const stomp = await Peer.open(b.stompPort);
  stomp.send('STOMP', { 'accept-version': '1.2', host: 'localhost' });
  t.equal((await stomp.waitFor('CONNECTED')).headers.get('version'), '1.2', 'the STOMP command connects too');

  const none = await Peer.open(b.stompPort);
  none.send('CONNECT', { 'accept-version': '2.0,3.1', host: 'localhost' });
  const e = await none.error(t, /Supported protocol versions are 1\.0,1\.1,1\.2/);
  t.equal(e.headers.get('version'), '1.0,1.1,1.2', 'ERROR lists the versions the broker speaks');
});

t.test('connection state: CONNECT first and once, unknown commands; other clients unaffected', async (t) => {
  const b = await startStompBroker(t);
  const good = await Peer.connected(b.stompPort);
  good.send('SUBSCRIBE', { id: 's', destination: '/queue/ok' });

  const early = await Peer.open(b.stompPort);
  early.send('SEND', { destination: '/queue/ok', receipt: 'r0' }, 'x');
  await early.error(t, /SEND before CONNECT: the first frame must be CONNECT or STOMP/, 'r0');

  const twice = await Peer.connected(b.stompPort);
  twice.send('CONNECT', { 'accept-version': '1.2', host: 'x' });
  await twice.error(t, /second CONNECT on one connection/);

  const unknown = await Peer.connected(b.stompPort);
  unknown.send('TELEPORT', { receipt: 'r1' });
  await unknown.error(t, /unknown command "TELEPORT"/, 'r1');

  const other = await Peer.connected(b.stompPort);
  other.send('SEND', { destination: '/queue/ok', receipt: 'sent' }, 'still fine');
  await other.waitFor('RECEIPT');
  const m = await good.waitFor('MESSAGE');
  t.equal(m.body.toString(), 'still fine', 'another client keeps working');
  t.notOk(good.closed);
});

t.test('missing and invalid headers: ERROR naming them, with receipt-id, then close', async (t) => {
  const b = await startStompBroker(t);
  const cases: [string, H, RegExp, H?][] = [
    ['SEND', {}, /SEND frame has no destination header/],
    ['SEND', { destination: 'plain' }, /"plain" is not a destination: expected \/queue\/NAME/],
    ['SEND', { destination: '/queue/a', priority: 'high' }, /invalid priority "high"/],
    ['SUBSCRIBE', { id: '1' }, /SUBSCRIBE frame has no destination header/],
    ['SUBSCRIBE', { destination: '/queue/a' }, /SUBSCRIBE frame has no id header/],
    ['SUBSCRIBE', { id: '1', destination: '/queue/a', ack: 'sometimes' }, /invalid ack "sometimes": expected auto, client or client-individual/],
    ['SUBSCRIBE', { id: '1', destination: '/queue/a', 'activemq.prefetchSize': '0' }, /invalid activemq\.prefetchSize "0"/],
    ['SUBSCRIBE', { id: '1', destination: '/queue/a', selector: 'color = ' }, /selector|Selector|expected/],
    ['SUBSCRIBE', { id: '1', destination: '/topic/t', 'activemq.subscriptionName': 'd' }, /durable subscription \(activemq\.subscriptionName\) needs a client-id header/],
    ['UNSUBSCRIBE', {}, /UNSUBSCRIBE frame has no id header/],
    ['UNSUBSCRIBE', { id: 'nope' }, /no subscription "nope" on this connection/],
    ['ACK', {}, /ACK frame has no id header/],
    ['ACK', { id: '9-9' }, /id "9-9" is not the ack header of an outstanding MESSAGE/],
    ['NACK', { id: 'garbage' }, /NACK: id "garbage" is not the ack header/],
    ['BEGIN', {}, /BEGIN frame has no transaction header/],
    ['COMMIT', { transaction: 'never-begun' }, /no open transaction never-begun/],
    ['ABORT', {}, /ABORT frame has no transaction header/],
    ['ACK', { 'message-id': 'm' }, /ACK frame has no subscription header/, { 'accept-version': '1.1', host: 'x' }],
    ['ACK', { 'message-id': 'm', subscription: 'x' }, /no subscription "x"/, { 'accept-version': '1.1', host: 'x' }],
    ['ACK', {}, /ACK frame has no message-id header/, { 'accept-version': '1.0' }],
  ];
  for (const [cmd, headers, message, connect] of cases) {
    const p = await Peer.connected(b.stompPort, connect);
    p.send(cmd, { ...headers, receipt: `r-${cmd}` });
    await p.error(t, message, `r-${cmd}`);
  }
  const dup = await Peer.connected(b.stompPort);
  dup.send('SUBSCRIBE', { id: 'same', destination: '/queue/a' });
  dup.send('SUBSCRIBE', { id: 'same', destination: '/queue/b' });
  await dup.error(t, /subscription id "same" is already in use/);
});

t.test('malformed frames, bad heart-beat', async (t) => {
  const b = await startStompBroker(t);
  const bytes: [string | Buffer, RegExp][] = [
    ['SEND\ndestination:/queue/a\nno colon\n\nx\0', /malformed header line "no colon": no ':'/],
    ['SEND\ndestination:/queue/a\ncontent-length:ten\n\nx\0', /invalid content-length "ten"/],
    ['SEND\ndestination:/queue/a\ncontent-length:1\n\nxy\0', /not followed by a NUL byte after content-length 1 bytes/],
    ['SEND\ndestination:/queue/a\nk:\\t\n\nx\0', /undefined escape sequence "\\\\t"/],
    [Buffer.from([0, 0, 0, 9, 0x81, 0xa1, 0x74]), /byte 0x00 in the command line/],
  ];
  for (const [raw, message] of bytes) {
    const p = await Peer.connected(b.stompPort);
    p.write(raw);
    await p.error(t, message);
  }
  for (const hb of ['fast', '100', '-5,0', '1,2,3']) {
    const p = await Peer.open(b.stompPort);
    p.send('CONNECT', { 'accept-version': '1.2', host: 'x', 'heart-beat': hb });
    await p.error(t, /invalid heart-beat/);
  }
  const raw = await Peer.open(b.stompPort);
  raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await raw.error(t, /" " in the command line/);
});

t.test('wireFormat.maxFrameSize: refused while reading, before the body; others unaffected', async (t) => {
  const b = await startStompBroker(t, { stompQuery: 'wireFormat.maxFrameSize=4096' });
  const good = await Peer.connected(b.stompPort);
  good.send('SUBSCRIBE', { id: 's', destination: '/queue/ok' });
  const cl = await Peer.connected(b.stompPort);
  cl.write('SEND\ndestination:/queue/ok\nreceipt:big\ncontent-length:1000000\n\n'); // headers only: no body byte sent
  await cl.error(t, /content-length 1000000\) exceeds wireFormat\.maxFrameSize=4096/, 'big');
  const head = await Peer.connected(b.stompPort);
  head.write(`SEND\ndestination:/queue/ok\n${'key:value-value-value\n'.repeat(400)}`); // header section never ends
  await head.error(t, /header section exceeds wireFormat\.maxFrameSize=4096/);
  const nul = await Peer.connected(b.stompPort);
  nul.write(`SEND\ndestination:/queue/ok\n\n${'x'.repeat(8000)}`);
  await nul.error(t, /grows past wireFormat\.maxFrameSize=4096/);
  const ok = await Peer.connected(b.stompPort);
  ok.send('SEND', { destination: '/queue/ok', receipt: 'r' }, 'y'.repeat(3000));
  await ok.waitFor('RECEIPT');
  t.equal((await good.waitFor('MESSAGE')).body.length, 3000, 'a frame under the limit passes; other clients unaffected');
});

t.test('maximumConnections: the extra socket gets a STOMP ERROR saying so', async (t) => {
  const b = await startStompBroker(t, { stompQuery: 'maximumConnections=2' });
  const a1 = await Peer.connected(b.stompPort);
  await Peer.connected(b.stompPort);
  const extra = await Peer.open(b.stompPort);
  await extra.error(t, /connector cli1 has reached maximumConnections=2/);
  a1.socket.destroy();
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    const p = await Peer.open(b.stompPort);
    p.send('CONNECT', { 'accept-version': '1.2', host: 'x' });
    ok = (await p.waitFor(() => true).catch(() => null))?.command === 'CONNECTED';
    if (!ok) await sleep(50);
  }
  t.ok(ok, 'a freed slot accepts a new connection');
});

t.test('heart-beating under wireFormat.maxInactivityDuration', async (t) => {
  const b = await startStompBroker(t, { stompQuery: 'wireFormat.maxInactivityDuration=1500' });
  // A client that cannot heart-beat (1.0, or cx = 0) is an idle consumer, not a dead one: as in ActiveMQ it is
  // not timed out (TCP keep-alive watches it). Connected first, it is checked once D has passed below.
  const silent = await Peer.connected(b.stompPort, { 'accept-version': '1.0' });
  const silentSince = Date.now();
  // The client wants a heart-beat every 200 ms and sends its own every 300 ms.
  const p = await Peer.connected(b.stompPort, { 'accept-version': '1.2', host: 'x', 'heart-beat': '300,200' });
  t.equal(p.frames[0]!.headers.get('heart-beat'), '200,500', 'sx = cy, sy = D/3');
  const t0 = Date.now();
  const beat = setInterval(() => p.write('\n'), 300);
  // Event-driven: wait for the broker's 10th heart-beat (about 2 s, past D = 1500 ms), not for a fixed time.
  const until = Date.now() + 15_000;
  while (p.beats.length < 10 && !p.closed && Date.now() < until) await p.waitFor(() => false, 100).catch(() => {});
  clearInterval(beat);
  const span = Date.now() - t0;
  t.ok(p.beats.length >= 10, `the broker sent ${p.beats.length} EOL heart-beats`);
  t.ok(span > 1500, `over ${span} ms, longer than D`);
  t.notOk(p.closed, 'a client that heart-beats outlives the inactivity duration');
  const gaps = p.beats.filter((x) => x > t0 + 100).map((x, i, a) => (i === 0 ? 0 : x - a[i - 1]!));
  // 200 ms is the promise; the margin is for a busy 2-core machine's timers (a gap of D would be a failure).
  t.ok(Math.max(...gaps) < 1000, `every gap about 200 ms (max ${Math.max(...gaps)} ms)`);
  // Now silence: the broker gives up after D, not before.
  const quiet = Date.now();
  const e = await p.waitFor('ERROR', 10_000);
  t.match(e.headers.get('message'), /no frame or heart-beat from the client for \d+ ms \(limit 1500 ms from wireFormat\.maxInactivityDuration=1500 ms; the client offered heart-beats every 300 ms\)/);
  const waited = Date.now() - quiet;
  t.ok(waited >= 1100, `closed ${waited} ms after the last heart-beat: not before the deadline`);
  await p.closedWithin(3000);

  t.ok(Date.now() - silentSince > 1500, 'D has passed since the silent client connected');
  t.notOk(silent.closed, 'a client without heart-beats outlives D = 1500 ms');
  t.equal(silent.beats.length, 0, 'no heart-beats sent to a client that did not ask');
  silent.send('SUBSCRIBE', { destination: '/queue/idle', receipt: 'still-here' });
  await silent.waitFor((f) => f.headers.get('receipt-id') === 'still-here');
});

/** Bodies of the MESSAGE frames received so far on `sub`. */
const bodies = (p: Peer, sub: string): string[] => p.frames.filter((f) => f.command === 'MESSAGE' && f.headers.get('subscription') === sub).map((f) => f.body.toString());

t.test('acknowledgement by version: 1.2 ack ids, 1.1 message-id + subscription, 1.0 message-id; client is cumulative', async (t) => {
  const b = await startStompBroker(t);
  const prod = await Peer.connected(b.stompPort);
  for (let i = 0; i < 6; i++) prod.send('SEND', { destination: '/queue/acks', receipt: `p${i}` }, `m${i}`);
  await prod.waitFor((f) => f.headers.get('receipt-id') === 'p5');

  // 1.2, client mode: ACK of the 3rd acknowledges the first 3; closing gives back the other 3, redelivered.
  const c12 = await Peer.connected(b.stompPort);
  c12.send('SUBSCRIBE', { id: 'a', destination: '/queue/acks', ack: 'client', 'activemq.prefetchSize': '3' });
  await c12.waitFor((f) => f.body.toString() === 'm2');
  await roundTrip(c12, 'held');
  t.same(bodies(c12, 'a'), ['m0', 'm1', 'm2'], 'prefetch 3 holds the rest back');
  const third = c12.frames.filter((f) => f.command === 'MESSAGE')[2]!;
  t.ok(third.headers.get('ack'), '1.2 MESSAGE frames carry an ack id');
  c12.send('ACK', { id: third.headers.get('ack')!, receipt: 'acked' });
  await c12.waitFor((f) => f.headers.get('receipt-id') === 'acked');
  await c12.waitFor((f) => f.body.toString() === 'm5');
  c12.send('DISCONNECT', { receipt: 'bye' });
  await c12.waitFor('RECEIPT');

  // 1.1, client-individual: ACK one by message-id + subscription, NACK another (redelivered at once).
  const c11 = await Peer.connected(b.stompPort, { 'accept-version': '1.1', host: 'x' });
  c11.send('SUBSCRIBE', { id: 'b', destination: '/queue/acks', ack: 'client-individual' });
  await c11.waitFor((f) => f.body.toString() === 'm5');
  const msgs = c11.frames.filter((f) => f.command === 'MESSAGE');
  t.same(msgs.map((f) => f.body.toString()), ['m3', 'm4', 'm5'], 'only the unacked three come back');
  t.ok(msgs.every((f) => f.headers.get('redelivered') === 'true' && !f.headers.has('ack')), 'marked redelivered; no ack header before 1.2');
  c11.send('ACK', { 'message-id': msgs[0]!.headers.get('message-id')!, subscription: 'b' });
  c11.send('NACK', { 'message-id': msgs[1]!.headers.get('message-id')!, subscription: 'b', receipt: 'n' });
  await c11.waitFor((f) => f.headers.get('receipt-id') === 'n');
  await c11.waitFor((f) => f.command === 'MESSAGE' && f !== msgs[1] && f.body.toString() === 'm4');
  c11.socket.destroy();

  // 1.0: no subscription id (the destination stands in), ACK by message-id alone.
  const c10 = await Peer.connected(b.stompPort, {});
  c10.send('SUBSCRIBE', { destination: '/queue/acks', ack: 'client' });
  await c10.waitFor((f) => f.body.toString() === 'm5');
  await c10.waitFor((f) => f.body.toString() === 'm4');
  // Given back on close in delivery order (m5, then the redelivered m4): ACK the last one, cumulatively.
  const m = c10.frames.filter((f) => f.command === 'MESSAGE').at(-1)!;
  t.equal(m.headers.get('subscription'), '/queue/acks');
  t.same(bodies(c10, '/queue/acks').sort(), ['m4', 'm5']);
  c10.send('ACK', { 'message-id': m.headers.get('message-id')!, receipt: 'done' });
  await c10.waitFor('RECEIPT');
  c10.send('ACK', { 'message-id': m.headers.get('message-id')!, receipt: 'again' });
  await c10.error(t, /message-id "[^"]+" is not an outstanding message/, 'again');
  const check = await Peer.connected(b.stompPort);
  check.send('SUBSCRIBE', { id: 'z', destination: '/queue/acks' });
  await barrier(check, 'z', '/queue/acks');
  t.same(bodies(check, 'z'), [], 'every message acknowledged exactly once');
});

t.test('STOMP 1.0: UNSUBSCRIBE may name the destination instead of the id', async (t) => {
  const b = await startStompBroker(t);
  const p = await Peer.connected(b.stompPort, {});
  p.send('SUBSCRIBE', { destination: '/queue/u10', id: 'named' });
  p.send('UNSUBSCRIBE', { destination: '/queue/u10', receipt: 'u' });
  await p.waitFor((f) => f.headers.get('receipt-id') === 'u');
  p.send('SEND', { destination: '/queue/u10', receipt: 's' }, 'x');
  await p.waitFor((f) => f.headers.get('receipt-id') === 's');
  // Subscribed again under another id: the message waiting on the queue arrives there, proving none went to 'named'.
  p.send('SUBSCRIBE', { destination: '/queue/u10', id: 'again' });
  await p.waitFor((f) => f.command === 'MESSAGE' && f.body.toString() === 'x');
  t.same(bodies(p, 'named'), [], 'no longer subscribed');
});

t.test('headers, NUL bodies and escaping survive STOMP to STOMP, across versions', async (t) => {
  const b = await startStompBroker(t);
  const subs = await Promise.all((['1.0', '1.1', '1.2'] as const).map((v) => Peer.connected(b.stompPort, { 'accept-version': v, host: 'x' })));
  for (const s of subs) s.send('SUBSCRIBE', { id: 's', destination: '/topic/esc', receipt: 'sub' });
  await Promise.all(subs.map((s) => s.waitFor('RECEIPT')));
  const p = await Peer.connected(b.stompPort);
  p.send('SEND', { destination: '/topic/esc', 'content-type': 'application/octet-stream', 'x-colon': 'a:b', 'x-multi': 'l1\nl2\\', 'x-ü': '✓' }, Buffer.from([0, 1, 0, 2]));
  const [m10, m11, m12] = await Promise.all(subs.map((s) => s.waitFor('MESSAGE')));
  for (const m of [m10!, m11!, m12!]) t.same([...m.body], [0, 1, 0, 2], 'body with NULs, by content-length');
  t.equal(m12!.headers.get('x-colon'), 'a:b');
  t.equal(m12!.headers.get('x-multi'), 'l1\nl2\\'.replace('\\n', '\n'), '1.2 round trip');
  t.equal(m11!.headers.get('x-ü'), '✓');
  t.equal(m10!.headers.get('x-multi'), 'l1 l2\\', '1.0: no escaping, a line break becomes a space');
  t.notOk(m12!.headers.has('content-type'), 'bytes: application/octet-stream is implied');
});

t.test('DISCONNECT: RECEIPT once every earlier persistent SEND is on disk, then the broker closes', async (t) => {
  const b = await startStompBroker(t);
  const p = await Peer.connected(b.stompPort);
  for (let i = 0; i < 500; i++) p.send('SEND', { destination: '/queue/bye', persistent: 'true' }, `m${i}`);
  p.send('DISCONNECT', { receipt: 'bye' });
  p.send('SEND', { destination: '/queue/bye', persistent: 'true' }, 'after DISCONNECT: ignored');
  t.equal((await p.waitFor('RECEIPT')).headers.get('receipt-id'), 'bye');
  await p.closedWithin(3000);
  await b.kill('SIGKILL');
  const again = await startStompBroker(t, { dataDir: b.dataDir });
  const c = await Peer.connected(again.stompPort);
  c.send('SUBSCRIBE', { id: 's', destination: '/queue/bye' });
  await c.waitFor((f) => f.body.toString() === 'm499');
  await barrier(c, 's', '/queue/bye');
  t.same(bodies(c, 's'), Array.from({ length: 500 }, (_, i) => `m${i}`), 'all 500 survived a kill -9 after the RECEIPT; nothing after DISCONNECT');
});

t.test('heart-beats off when the connector says maxInactivityDuration=0', async (t) => {
  const b = await startStompBroker(t, { stompQuery: 'wireFormat.maxInactivityDuration=0' });
  const p = await Peer.connected(b.stompPort, { 'accept-version': '1.2', host: 'x', 'heart-beat': '0,0' });
  t.equal(p.frames[0]!.headers.get('heart-beat'), '0,0');
  await sleep(600);
  t.notOk(p.closed);
  t.equal(p.beats.length, 0);
  p.send('DISCONNECT', { receipt: 'bye' });
  t.equal((await p.waitFor('RECEIPT')).headers.get('receipt-id'), 'bye');
  await p.closedWithin(3000);
});
