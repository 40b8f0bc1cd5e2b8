import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { Broker, type SendInput } from '../../src/broker/broker.js';
import type { BrokerMessage } from '../../src/model/message.js';
import type { Session } from '../../src/broker/session.js';
import type { DeliverySink, Subscription } from '../../src/broker/subscription.js';
import { LevelStore } from '../../src/store/level-store.js';
import { FailWrites } from '../helpers/faults.js';

/** A broker over a LevelStore whose writes fail as told, a session on it, and everything it logged. */
async function setup(t: Tap, faults: FailWrites) {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-faults-'));
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const store = new LevelStore(join(dir, 'db'), { faults });
  const broker = new Broker({ name: 'faults', store, logger });
  await broker.start();
  const delivered: { msg: BrokerMessage; tag: number; sub: Subscription }[] = [];
  const sink: DeliverySink = { deliver: (sub, msg, tag) => void delivered.push({ msg, tag, sub }) };
  const session = broker.createSession({ clientId: 'c1', sink });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await broker.stop();
  };
  t.teardown(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const errors = () => logs.filter((l) => l['level'] === 50);
  const until = async (what: string, pred: () => boolean, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  /** Until the store has recovered `n` times. */
  const recovered = (n = 1) =>
    until(`recovery ${n} of the store`, () => logs.filter((l) => String(l['msg']).startsWith('store writable again')).length >= n);
  return { dir, broker, store, session, delivered, logs, errors, stop, until, recovered };
}
type Tap = { teardown(fn: () => unknown): void };

function input(i: number, dest = 'queue://q'): SendInput {
  return { dest, body: Buffer.from(`m${i}`), bt: 1, persistent: true, pid: 'p1', seq: i };
}
const send = (s: Session, i: number, dest?: string): Promise<Error | undefined> =>
  new Promise((resolve) => s.send(input(i, dest), (err) => resolve(err)));

/** Session.subscribe answers through its callback, synchronously for a plain subscription: the subscription. */
function subscribe(session: Session, input: Parameters<Session['subscribe']>[0]): Subscription {
  let out: Subscription | null = null;
  session.subscribe(input, (err, sub) => {
    if (err) throw err;
    out = sub;
  });
  if (out === null) throw new Error('subscribe did not answer synchronously');
  return out;
}

t.test('a send whose store write fails is answered with the error, never enqueued nor delivered; its retry is stored once', async (t) => {
  const faults = new FailWrites({ from: 2 });
  const f = await setup(t, faults);
  subscribe(f.session, { sid: 1, dest: 'queue://q', ack: 'client', prefetch: 100 });
  t.equal(await send(f.session, 0), undefined, 'first send stored');
  const err = await send(f.session, 1);
  t.match(err, { code: 'FERRY_STORE', message: /store write failed: .*No space left on device/ }, 'second send answered with the write error');
  await f.recovered();
  t.same(f.delivered.map((d) => d.msg.id), ['p1:0'], 'the failed message was never dispatched');
  t.equal(f.broker.stats().find((s) => s.name === 'queue://q')?.enqueueCount, 1, 'nor enqueued');
  t.equal(await send(f.session, 1), undefined, 'the producer retries the same sequence after the store recovered');
  t.same(f.delivered.map((d) => d.msg.id), ['p1:0', 'p1:1'], 'the retry is stored and delivered once, not dropped as a duplicate');
  const errs = f.errors();
  t.equal(errs.length, 1, 'one error line for the failure');
  t.match(String((errs[0]!['err'] as { message?: string })?.message ?? ''), /No space left on device/, 'logged with its cause');
  await f.stop();
  const again = await new LevelStore(join(f.dir, 'db')).open();
  t.equal(again.destinations.get('queue://q')?.count, 2, 'two messages on disk after a restart');
});

t.test('a sticky failure: sends refused until the store has reopened, one error line per burst, acks of the failed batch written after', async (t) => {
  const faults = new FailWrites({ from: 3, sticky: true, reopenFailures: 2 });
  const f = await setup(t, faults);
  subscribe(f.session, { sid: 1, dest: 'queue://q', ack: 'individual', prefetch: 100 });
  t.equal(await send(f.session, 0), undefined);
  t.equal(await send(f.session, 1), undefined);
  await f.until('two deliveries', () => f.delivered.length === 2);
  // The ack's delete and a new message go into the same batch, which fails.
  f.session.ack(1, f.delivered[0]!.tag, false);
  const failed = send(f.session, 2);
  const later = [send(f.session, 3), send(f.session, 4)];
  t.match(await failed, { code: 'FERRY_STORE' });
  t.match(await Promise.all(later), [{ code: 'FERRY_STORE' }, { code: 'FERRY_STORE' }], 'sends while the store is failed are refused');
  t.throws(() => f.broker.assertWritable('x'), { code: 'FERRY_STORE' });
  await t.rejects(f.broker.queue('queue://q').purge(), { code: 'FERRY_STORE', message: /refused/ }, 'a purge while failed is refused');
  await f.recovered();
  t.equal(faults.reopens, 3, 'two reopen attempts failed, the third worked');
  const errs = f.errors();
  t.equal(errs.length, 2, 'one error line for the burst and one for the first failed reopen');
  t.equal(f.logs.filter((l) => String(l['msg']).startsWith('store writable again')).length, 1);
  t.equal(await send(f.session, 5), undefined, 'sends accepted again');
  await f.until('third delivery', () => f.delivered.length === 3);
  t.same(f.delivered.map((d) => d.msg.id), ['p1:0', 'p1:1', 'p1:5']);
  await f.stop();
  const again = await new LevelStore(join(f.dir, 'db')).open();
  t.equal(again.destinations.get('queue://q')?.count, 2, 'the ack of the failed batch was written once the store was back');
});

t.test('a purge whose write fails says so; COMMIT while the store is failed changes nothing', async (t) => {
  const faults = new FailWrites({ from: 1000 });
  const f = await setup(t, faults);
  for (let i = 0; i < 5; i++) t.equal(await send(f.session, i), undefined);
  faults.failNext();
  await t.rejects(f.broker.queue('queue://q').purge(), { code: 'FERRY_STORE', message: /purge of queue:\/\/q not confirmed: .*No space left/ });
  await f.recovered();
  f.session.begin('tx1', (err) => t.error(err));
  f.session.send(input(10), () => {}, 'tx1');
  // The next write fails and the store stays down for two reopen attempts (100 + 200 ms).
  faults.failNext(2);
  t.match(await send(f.session, 11), { code: 'FERRY_STORE' });
  const q = f.broker.queue('queue://q');
  const before = q.counters.enqueued;
  const refused = await new Promise<Error | undefined>((resolve) => f.session.commit('tx1', resolve));
  t.match(refused, { code: 'FERRY_STORE' }, 'COMMIT refused');
  t.equal(q.counters.enqueued, before, 'nothing of the transaction was enqueued');
  await f.recovered(2);
  const committed = await new Promise<Error | undefined>((resolve) => f.session.commit('tx1', resolve));
  t.equal(committed, undefined, 'the transaction is still open and commits once the store is back');
  t.equal(q.counters.enqueued, before + 1);
});

t.test('a dead-letter copy that cannot be stored leaves the message on its queue', async (t) => {
  const faults = new FailWrites({ from: 1000 });
  const f = await setup(t, faults);
  subscribe(f.session, { sid: 1, dest: 'queue://q', ack: 'individual', prefetch: 1 });
  t.equal(await send(f.session, 0), undefined);
  // maximumRedeliveries 6: the 7th NACK dead-letters it; make that write fail.
  for (let i = 1; i <= 7; i++) {
    await f.until(`delivery ${i}`, () => f.delivered.length === i);
    if (i === 7) faults.failNext();
    f.session.nack(1, f.delivered[i - 1]!.tag, false);
  }
  await f.recovered();
  const stats = f.broker.stats();
  t.equal(stats.find((s) => s.name === 'queue://ActiveMQ.DLQ')?.queueSize ?? 0, 0, 'nothing on the DLQ');
  await f.until('the message back on its queue', () => f.delivered.length === 8);
  t.equal(f.delivered[7]!.msg.id, 'p1:0', 'redelivered from its own queue');
});

t.test('a persistent topic message whose durable copy cannot be stored reaches no subscriber, durable or not', async (t) => {
  const faults = new FailWrites({ from: 1000 });
  const f = await setup(t, faults);
  subscribe(f.session, { sid: 1, dest: 'topic://prices', ack: 'auto', prefetch: 100, durable: 'd1' });
  subscribe(f.session, { sid: 2, dest: 'topic://prices', ack: 'auto', prefetch: 100 });
  t.equal(await send(f.session, 0, 'topic://prices'), undefined);
  await f.until('two copies of the first message', () => f.delivered.length === 2);
  faults.failNext();
  t.match(await send(f.session, 1, 'topic://prices'), { code: 'FERRY_STORE' }, 'the send is answered with the error');
  await f.recovered();
  t.equal(await send(f.session, 2, 'topic://prices'), undefined);
  await f.until('two copies of the third message', () => f.delivered.length === 4);
  t.same(f.delivered.map((d) => `${d.sub.sid}:${d.msg.id}`).sort(), ['1:p1:0', '1:p1:2', '2:p1:0', '2:p1:2'], 'nobody got the failed one');
});

t.test('removing a durable subscription is answered once synced, or with the write error', async (t) => {
  const faults = new FailWrites({ from: 1000 });
  const f = await setup(t, faults);
  const sub = subscribe(f.session, { sid: 1, dest: 'topic://t', ack: 'auto', prefetch: 10, durable: 'gone' });
  f.session.unsubscribe(sub.sid);
  faults.failNext();
  await t.rejects(f.broker.unsubscribeDurable('c1', 'gone'), { code: 'FERRY_STORE', message: /not confirmed: .*No space left/ });
  await f.recovered();
  subscribe(f.session, { sid: 2, dest: 'topic://t', ack: 'auto', prefetch: 10, durable: 'kept' });
  f.session.unsubscribe(2);
  await t.resolves(f.broker.unsubscribeDurable('c1', 'kept'), 'removed and synced');
  await f.stop();
  const again = await new LevelStore(join(f.dir, 'db')).open();
  t.same(again.durables.map((d) => d.name), [], 'both records are gone from disk (the failed removal was retried)');
});

t.test('a store taken by another node while it reopens stays failed and says it is lost', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-faults-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new LevelStore(join(dir, 'db'), { faults: new FailWrites({ from: 1, lockedOnReopen: true }) });
  const events: string[] = [];
  store.watch({ failed: (_e, attempt) => events.push(`failed ${attempt}`), recovered: () => events.push('recovered'), lost: (e) => events.push(`lost ${(e as { code?: string }).code}`) });
  await store.open();
  const msg = { seq: 1, id: 'x', dest: 'queue://q', body: Buffer.from('x'), bt: 1 as const, persistent: true, priority: 4, timestamp: 0, expires: 0, deliveryCount: 0 };
  const err = await new Promise<Error | undefined>((resolve) => store.add(msg, resolve));
  t.match(err, { code: 'FERRY_STORE' });
  const deadline = Date.now() + 5000;
  while (!events.some((e) => e.startsWith('lost')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.same(events, ['failed 0', 'lost FERRY_LOCK_LOST'], 'reported lost, never recovered nor retried');
  t.not(store.failure, null, 'still failed: nothing more is written');
  t.match(await new Promise<Error | undefined>((resolve) => store.add({ ...msg, seq: 2 }, resolve)), { code: 'FERRY_STORE' });
  await store.close();
});
