import t from 'tap';
import { Broker, type SubscribeInput } from '../../src/broker/broker.js';
import type { ConsumerInfo } from '../../src/broker/events.js';
import type { BrokerMessage } from '../../src/model/message.js';
import type { Session } from '../../src/broker/session.js';
import type { DeliverySink, Subscription } from '../../src/broker/subscription.js';
import { silentLogger } from '../../src/log.js';
import { MemoryStore } from '../../src/store/memory-store.js';

/** A sink that records deliveries: sid -> message ids. */
function recorder(): DeliverySink & { got: Map<number, BrokerMessage[]> } {
  const got = new Map<number, BrokerMessage[]>();
  return {
    got,
    deliver(sub: Subscription, msg: BrokerMessage) {
      let l = got.get(sub.sid);
      if (l === undefined) got.set(sub.sid, (l = []));
      l.push(msg);
    },
  };
}

/** Session.subscribe answers through its callback (synchronously here: nothing is held): the sub, or a throw. */
function subscribe(s: Session, input: SubscribeInput): Subscription {
  let sub: Subscription | null = null;
  let error: Error | null = null;
  s.subscribe(input, (err, sb) => ((error = err), (sub = sb)));
  if (error !== null) throw error;
  return sub!;
}

async function broker(t: { teardown(fn: () => unknown): void }): Promise<Broker> {
  const b = new Broker({ name: 'core-test', store: new MemoryStore(), logger: silentLogger() });
  await b.start();
  t.teardown(() => b.stop());
  return b;
}

function send(b: Broker, dest: string, n: number, extra: Partial<Parameters<Broker['send']>[0]> = {}): void {
  const s = b.createSession({ sink: recorder() });
  for (let i = 0; i < n; i++) {
    s.send({ dest, body: Buffer.from(String(i)), bt: 1, persistent: false, ...extra }, (err) => {
      if (err) throw err;
    });
  }
}

t.test('a queue dispatches to its highest-priority consumers with credit, round-robin among equals', async (t) => {
  const b = await broker(t);
  const sink = recorder();
  const s = b.createSession({ sink });
  subscribe(s, { sid: 1, dest: 'queue://P', ack: 'client', prefetch: 3 });
  subscribe(s, { sid: 2, dest: 'queue://P?consumer.priority=5', ack: 'client', prefetch: 3 });
  subscribe(s, { sid: 3, dest: 'queue://P', ack: 'client', prefetch: 3, priority: 5 });
  send(b, 'queue://P', 8);
  // 5 and 5 share the first six (round-robin), then the priority-0 consumer gets the two left.
  t.equal(sink.got.get(2)?.length, 3, 'priority 5 (from the destination option) filled first');
  t.equal(sink.got.get(3)?.length, 3, 'priority 5 (from the subscribe option) shares them');
  t.equal(sink.got.get(1)?.length, 2, 'priority 0 only once the others have no credit');
  t.same(
    sink.got.get(2)!.map((m) => m.body.toString()),
    ['0', '2', '4'],
    'equal priorities alternate',
  );
});

t.test('a bad consumer.priority is refused with a message naming it', async (t) => {
  const b = await broker(t);
  const s = b.createSession({ sink: recorder() });
  t.throws(() => subscribe(s, { sid: 1, dest: 'queue://P?consumer.priority=high', ack: 'auto', prefetch: 1 }), /consumer.priority must be an integer/);
  t.throws(() => subscribe(s, { sid: 2, dest: 'queue://P?consumer.dispatchAsync=true', ack: 'auto', prefetch: 1 }), /consumer.dispatchAsync/);
});

t.test('a network consumer takes only what its filter accepts; the rest waits for others', async (t) => {
  const b = await broker(t);
  const sink = recorder();
  const s = b.createSession({ sink });
  subscribe(s, {
    sid: 1,
    dest: 'queue://N',
    ack: 'client',
    prefetch: 100,
    priority: -5,
    network: { path: ['peer'], accept: (m) => !(m.path ?? []).includes('peer') },
  });
  send(b, 'queue://N', 3);
  send(b, 'queue://N', 2, { path: ['peer'] });
  send(b, 'queue://N', 1);
  t.equal(sink.got.get(1)?.length, 4, 'messages that did not come from the peer are forwarded');
  t.ok(sink.got.get(1)!.every((m) => m.path === undefined), 'none that came through the peer');
  subscribe(s, { sid: 2, dest: 'queue://N', ack: 'client', prefetch: 100 });
  t.equal(sink.got.get(2)?.length, 2, 'a local consumer gets the two the network consumer refused');
  t.same(sink.got.get(2)!.map((m) => m.path), [['peer'], ['peer']], 'with their broker path kept');
});

t.test('consumer, connection and destination events', async (t) => {
  const b = await broker(t);
  const added: ConsumerInfo[] = [];
  const removed: ConsumerInfo[] = [];
  const opened: string[] = [];
  const closed: string[] = [];
  const dests: string[] = [];
  b.events.on('consumerAdded', (c) => added.push(c));
  b.events.on('consumerRemoved', (c) => removed.push(c));
  b.events.on('connectionOpened', (c) => opened.push(c.id));
  b.events.on('connectionClosed', (c) => closed.push(c.id));
  b.events.on('destinationAdded', (d) => dests.push(d.dest));
  const s = b.createSession({ clientId: 'app', sink: recorder() });
  t.equal(opened.length, 1, 'connection opened');
  subscribe(s, { sid: 1, dest: 'queue://E', ack: 'auto', prefetch: 10, selector: "color = 'red'" });
  subscribe(s, { sid: 2, dest: 'topic://T', ack: 'auto', prefetch: 10, network: { path: ['x', 'y'], accept: () => true } });
  t.same(dests, ['queue://E'], 'a queue created by a consumer is announced');
  t.match(added, [
    { dest: 'queue://E', selector: "color = 'red'", network: false, path: [], clientId: 'app', priority: 0 },
    { dest: 'topic://T', network: true, path: ['x', 'y'] },
  ]);
  t.not(added[0]!.id, added[1]!.id, 'consumer ids differ');
  t.throws(() => subscribe(s, { sid: 3, dest: 'queue://E', ack: 'auto', prefetch: 1, selector: 'a =' }));
  t.equal(added.length, 2, 'a refused subscription is not announced');
  s.unsubscribe(1);
  t.same(removed.map((c) => c.dest), ['queue://E'], 'unsubscribe announces the removal');
  s.close();
  t.same(removed.map((c) => c.dest), ['queue://E', 'topic://T'], 'closing the session removes the rest');
  t.same(closed, opened, 'connection closed');
});

t.test('a listener that throws does not break the broker', async (t) => {
  const b = await broker(t);
  b.events.on('consumerAdded', () => {
    throw new Error('boom');
  });
  const sink = recorder();
  const s = b.createSession({ sink });
  subscribe(s, { sid: 1, dest: 'queue://L', ack: 'auto', prefetch: 10 });
  send(b, 'queue://L', 2);
  t.equal(sink.got.get(1)?.length, 2);
});

t.test('a forwarded message keeps its id, timestamp, expiry and path', async (t) => {
  const b = await broker(t);
  const sink = recorder();
  subscribe(b.createSession({ sink }), { sid: 1, dest: 'queue://F', ack: 'auto', prefetch: 10 });
  send(b, 'queue://F', 1, { id: 'ID:origin:7', timestamp: 1234, expires: Date.now() + 60_000, path: ['a', 'b'] });
  const m = sink.got.get(1)![0]!;
  t.equal(m.id, 'ID:origin:7');
  t.equal(m.timestamp, 1234);
  t.ok(m.expires > Date.now());
  t.same(m.path, ['a', 'b']);
});
