/**
 * Session as an in-process user (a bridge, the console) sees it: the same producer flow control, ordering and
 * DISCONNECT barrier the protocol adapters get, through Session.send and friends, with no socket involved.
 */
import t from 'tap';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerMessage } from '../../src/model/message.js';
import type { Session } from '../../src/broker/session.js';
import type { Subscription } from '../../src/broker/subscription.js';
import { silentLogger } from '../../src/log.js';
import { BodyType } from '../../src/protocol/commands.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { DEFAULT_QUEUE_MEMORY_BYTES } from '../../src/broker/queue.js';
import type { Teardown } from '../helpers/broker.js';

const BODY = Buffer.alloc(2048, 1);

async function broker(t: Teardown, opts: { memoryLimitBytes: number; sendFailIfNoSpaceAfterTimeoutMs?: number }): Promise<Broker> {
  const b = new Broker({ name: 'unit', store: new MemoryStore(), logger: silentLogger(), ...opts });
  await b.start();
  t.teardown(() => b.stop());
  return b;
}

const input = (dest: string, i: number) => ({ dest, body: BODY, bt: BodyType.Bytes, persistent: false, headers: { i } });

/** Resolve once `cond()` holds, or fail naming what was awaited. */
async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setImmediate(r));
  }
}

/** A consumer session that acks everything it gets at once. */
async function drainer(b: Broker, dest: string): Promise<{ got: number[]; session: Session }> {
  const got: number[] = [];
  let session: Session | null = null;
  const sink = {
    deliver: (sub: Subscription, m: BrokerMessage, tag: number) => {
      got.push(m.headers!['i'] as number);
      // Acked on the next turn, as a real consumer would.
      setImmediate(() => {
        if (!session!.closed) session!.ack(sub.sid, tag, false);
      });
    },
  };
  session = await b.connect({ protocol: 'test-consumer', sink });
  await new Promise<void>((resolve, reject) =>
    session!.subscribe({ sid: 1, dest, ack: 'individual', prefetch: 100 }, (err) => (err ? reject(err) : resolve())),
  );
  return { got, session };
}

t.test('an in-process user gets producer flow control from Session.send: held in order, released in order', async (t) => {
  const b = await broker(t, { memoryLimitBytes: 64 * 1024 });
  const events: string[] = [];
  const s = await b.connect({
    protocol: 'bridge',
    sink: { deliver: () => {} },
    flow: { blocked: () => events.push('blocked'), unblocked: () => events.push('unblocked'), pauseReading: () => events.push('pause'), resumeReading: () => events.push('resume') },
    maxHeld: 10,
  });
  const answered: string[] = [];
  let i = 0;
  while (!events.includes('blocked')) {
    const n = i++;
    s.send(input('queue://bridge', n), (err) => answered.push(err ? `error ${n}` : `send ${n}`));
    if (i > 1000) throw new Error('never blocked');
  }
  const firstHeld = i - 1;
  t.equal(answered.length, firstHeld, `${firstHeld} sends answered, the last one held`);
  t.ok(s.holding, 'the session holds it');
  // Ordered operations queue behind the held send; more sends too, until reads should pause.
  s.begin('tx1', (err) => answered.push(err ? 'begin error' : 'begin'));
  s.send(input('queue://bridge', i++), (err) => answered.push(err ? 'tx error' : 'tx send'), 'tx1');
  s.commit('tx1', (err) => answered.push(err ? 'commit error' : 'commit'));
  for (let k = 0; k < 8; k++) {
    const n = i++;
    s.send(input('queue://bridge', n), (err) => answered.push(err ? `error ${n}` : `send ${n}`));
  }
  let disconnected = false;
  s.disconnect(() => (disconnected = true));
  t.equal(answered.length, firstHeld, 'nothing behind the held send has run');
  t.ok(events.includes('pause'), `reads paused once ${10} operations were held`);
  t.notOk(disconnected, 'the DISCONNECT barrier waits too');

  const { got } = await drainer(b, 'queue://bridge');
  await until(() => disconnected, 'DISCONNECT barrier answered');
  t.same(events.slice(0, 2), ['blocked', 'pause'], 'blocked, then reads paused');
  t.ok(events.includes('unblocked') && events.includes('resume'), `then unblocked and resumed (${events.join(',')})`);
  const expected = [...Array(firstHeld + 1).keys()].map((n) => `send ${n}`).concat(['begin', 'tx send', 'commit'], [...Array(8).keys()].map((k) => `send ${firstHeld + 2 + k}`));
  t.same(answered, expected, 'every operation answered, in the order it was asked');
  await until(() => got.length === i, `all ${i} messages delivered`);
  t.same([...new Set(got)].length, i, 'each once');
});

t.test('sendFailIfNoSpaceAfterTimeout fails a held send; what waited behind it runs; closing fails the rest', async (t) => {
  const b = await broker(t, { memoryLimitBytes: 16 * 1024, sendFailIfNoSpaceAfterTimeoutMs: 50 });
  const s = await b.connect({ sink: { deliver: () => {} } });
  let blocked = false;
  const results: string[] = [];
  // Fill memory, then one more send is held.
  for (let n = 0; n < 8; n++) s.send(input('queue://full', n), () => {});
  await until(() => b.memoryFull, 'memory full');
  s.send(input('queue://full', 100), (err) => results.push(`send: ${(err as { code?: string } | undefined)?.code ?? 'ok'}`));
  blocked = s.holding;
  s.subscribe({ sid: 7, dest: 'queue://other', ack: 'auto', prefetch: 10 }, (err) => results.push(err ? 'subscribe error' : 'subscribed'));
  t.ok(blocked, 'the send is held');
  t.same(results, [], 'and the subscribe waits behind it');
  await until(() => results.length === 2, 'the held send to time out');
  t.same(results, ['send: FERRY_RESOURCE_EXHAUSTED', 'subscribed'], 'the send failed after the timeout, then the subscribe ran');

  // A session closed while holding answers its held operations instead of leaving a caller waiting forever.
  const s2 = await b.connect({ sink: { deliver: () => {} } });
  const late: string[] = [];
  s2.send(input('queue://full', 200), (err) => late.push((err as { code?: string } | undefined)?.code ?? 'ok'));
  s2.commit('nope', (err) => late.push((err as { code?: string } | undefined)?.code ?? 'ok'));
  t.ok(s2.holding, 'second session held too');
  s2.close();
  t.same(late, ['FERRY_CONNECTION_CLOSED', 'FERRY_CONNECTION_CLOSED'], 'closing answers every held operation');
});

t.test('hooks: an in-process session authenticates like any other; authorize guards its sends', async (t) => {
  const b = await broker(t, { memoryLimitBytes: 1024 * 1024 });
  b.setHooks({
    authenticate: (c) => (c.user === 'bridge' && c.password === 'pw' ? { user: 'bridge', role: 'network' } : false),
    // A send to a destination that does not exist yet asks `create` too.
    authorize: (p, action, dest) => p['role'] === 'network' && (action === 'send' || action === 'create') && dest === 'queue://fwd',
  });
  await t.rejects(b.connect({ user: 'bridge', password: 'bad', sink: { deliver: () => {} } }), { code: 'FERRY_AUTHENTICATION_FAILED' });
  const s = await b.connect({ user: 'bridge', password: 'pw', sink: { deliver: () => {} } });
  t.equal(s.principal['role'], 'network', 'the principal is what authenticate returned');
  const codes: string[] = [];
  s.send(input('queue://fwd', 1), (err) => codes.push((err as { code?: string } | undefined)?.code ?? 'ok'));
  s.send(input('queue://elsewhere', 2), (err) => codes.push((err as { code?: string } | undefined)?.code ?? 'ok'));
  t.same(codes, ['ok', 'FERRY_NOT_AUTHORIZED']);
  t.throws(() => s.stats(), { code: 'FERRY_NOT_AUTHORIZED' }, 'admin reads throw');
  // The allowed send is remembered per destination, but not across a change of hooks.
  let asked = 0;
  b.setHooks({ authorize: () => (asked++, false) });
  s.send(input('queue://fwd', 3), (err) => codes.push((err as { code?: string } | undefined)?.code ?? 'ok'));
  t.same(codes.slice(2), ['FERRY_NOT_AUTHORIZED'], 'new hooks are asked again');
  b.setHooks({ authorize: () => (asked++, true) });
  const before = asked;
  for (let i = 0; i < 5; i++) s.send(input('queue://fwd', 4 + i), () => {});
  t.equal(asked - before, 1, 'five sends to one destination ask the hook once');
  b.setHooks({ authorize: undefined });
  t.ok(Array.isArray(s.stats()), 'a removed hook allows again');
});

t.test('a queue without a policy memoryLimit holds DEFAULT_QUEUE_MEMORY_BYTES before a fast non-persistent producer waits', async (t) => {
  // The broker's own limit is far away: the queue's bound is what holds the producer.
  const b = await broker(t, { memoryLimitBytes: 1024 ** 3 });
  let blocked = 0;
  const s = await b.connect({ protocol: 'bridge', sink: { deliver: () => {} }, flow: { blocked: () => blocked++ } });
  let accepted = 0;
  let i = 0;
  while (blocked === 0) {
    s.send(input('queue://fast', i++), (err) => {
      if (!err) accepted++;
    });
    if (i > 100_000) throw new Error('never blocked');
  }
  const q = b.stats().find((d) => d.name === 'queue://fast')!;
  t.ok(q.memoryBytes >= DEFAULT_QUEUE_MEMORY_BYTES && q.memoryBytes < DEFAULT_QUEUE_MEMORY_BYTES + 2 * BODY.length + 1024,
    `held ${q.memoryBytes} bytes, the bound is ${DEFAULT_QUEUE_MEMORY_BYTES}`);
  t.equal(q.queueSize, accepted, `${accepted} accepted, the next one waits`);
  t.ok(s.holding, 'the send past the bound is held');
  // Another queue is not affected.
  const other: string[] = [];
  const s2 = await b.connect({ sink: { deliver: () => {} } });
  s2.send(input('queue://other', 0), (err) => other.push(err ? 'error' : 'ok'));
  t.same(other, ['ok'], 'a send to another queue goes through at once');
  s.close();
  s2.close();
});
