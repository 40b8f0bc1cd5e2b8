/**
 * Deadlines and give-backs: the CONNECT deadline, heart-beat limits a client cannot switch off, a client noticing
 * a silent (SIGSTOPped) broker, dead letters through abandoned deliveries and repeated ABORTs, and transacted acks
 * given back when their connection ends.
 */
import t from 'tap';
import { connect, type Connection, type ConnectionStatus } from '../../src/index.js';
import { startBroker } from '../helpers/broker.js';
import { RawPeer } from '../helpers/raw.js';

type T = typeof t;

async function open(t: T, url: string): Promise<Connection> {
  const c = await connect(url);
  t.teardown(() => c.close());
  return c;
}

t.test('a socket that sends no CONNECT is closed after 10 s, with an ERROR saying why', async (t) => {
  const b = await startBroker(t);
  const p = await RawPeer.open(b.port);
  const half = await RawPeer.open(b.port);
  half.write(Buffer.from([0, 0, 0, 40, 0x82])); // a CONNECT frame begun, never finished
  const t0 = Date.now();
  const err = await p.waitFor((c) => c['t'] === 'ERROR', 'ERROR for a missing CONNECT', 25_000);
  const took = Date.now() - t0;
  t.match(err['message'], /no CONNECT within 10000 ms/);
  t.ok(took >= 9_900 && took < 20_000, `after ${took} ms`);
  await p.waitClosed('after the CONNECT deadline');
  await half.waitClosed('a half-sent CONNECT does not extend the deadline', 10_000);
});

t.test('heart-beat limits: the broker value is a ceiling a client can lower but not switch off', async (t) => {
  const b = await startBroker(t, { query: 'wireFormat.maxInactivityDuration=600' });
  const off = await RawPeer.connected(b.port, { heartbeat: 0 });
  t.equal(off.received[0]!['heartbeat'], 600, 'a client asking for 0 (off) gets the broker 600 ms');
  const high = await RawPeer.connected(b.port, { heartbeat: 3_600_000 });
  t.equal(high.received[0]!['heartbeat'], 600, 'a client asking for an hour gets 600 ms');
  const low = await RawPeer.connected(b.port, { heartbeat: 300 });
  t.equal(low.received[0]!['heartbeat'], 300, 'a client may ask for less');
  // The one that tried to switch it off is still timed out when silent.
  const e = await off.waitFor((c) => c['code'] === 'FERRY_INACTIVITY', 'inactivity ERROR for the client that asked for 0', 15_000);
  t.match(e['message'], /no frame from the client/);
  await off.waitClosed('silent client closed');
  for (const p of [high, low]) p.destroy();
});

t.test('a client notices a silent broker (SIGSTOP) from missing heart-beats', async (t) => {
  const b = await startBroker(t, { query: 'wireFormat.maxInactivityDuration=600' });
  t.teardown(() => void b.proc.kill('SIGCONT')); // before the helper's SIGKILL, so nothing stays stopped
  const events: ConnectionStatus['type'][] = [];
  let noticed: () => void = () => {};
  const lost = new Promise<void>((resolve) => (noticed = resolve));
  const c = await connect(b.url, {
    onStatus: (s) => {
      events.push(s.type);
      if (s.type === 'interrupted' || s.type === 'failed') noticed();
    },
  });
  t.teardown(() => c.close());
  await c.send('queue://alive', 'before'); // a persistent round trip: the connection works
  const stoppedAt = Date.now();
  b.proc.kill('SIGSTOP');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    lost,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`client did not notice the stopped broker within 15 s: ${events.join(',')}`)), 15_000))),
  ]);
  clearTimeout(timer);
  const took = Date.now() - stoppedAt;
  t.ok(took >= 500, `noticed after ${took} ms: not before the inactivity duration`);
  t.ok(events.includes('interrupted') || events.includes('failed'), `status events: ${events.join(',')}`);
  b.proc.kill('SIGCONT');
});

t.test('dead letters through abandoned deliveries: a consumer that leaves without acking, 7 times', async (t) => {
  const b = await startBroker(t);
  const admin = await open(t, b.url);
  await admin.send('queue://abandon', 'poison');
  const counts: number[] = [];
  for (let i = 0; i < 7; i++) {
    const c = await connect(b.url);
    const s = await c.subscribe('queue://abandon', { ack: 'client' });
    const m = await s.receive(5000);
    if (!m) throw new Error(`delivery ${i + 1} did not arrive`);
    counts.push(m.deliveryCount);
    await c.close(); // leaves without acking: the delivery is abandoned
  }
  t.same(counts, [1, 2, 3, 4, 5, 6, 7], 'the first delivery and 6 redeliveries');
  const dlq = await admin.subscribe('queue://ActiveMQ.DLQ');
  const dead = await dlq.receive(5000);
  t.equal(dead?.text, 'poison', 'then dead-lettered');
  t.equal(dead?.headers['originalDestination'], 'queue://abandon');
  const after = await admin.subscribe('queue://abandon');
  await admin.send('queue://abandon', 'barrier');
  t.equal((await after.receive(5000))?.text, 'barrier', 'and no longer on its queue');
});

t.test('dead letters through repeated ABORTs of a transaction that acked it', async (t) => {
  const b = await startBroker(t);
  const c = await open(t, b.url);
  await c.send('queue://aborts', 'again-and-again');
  const s = await c.subscribe('queue://aborts', { ack: 'client' });
  const counts: number[] = [];
  for (let i = 0; i < 7; i++) {
    const m = await s.receive(5000);
    if (!m) throw new Error(`delivery ${i + 1} did not arrive`);
    counts.push(m.deliveryCount);
    const tx = await c.begin();
    tx.ack(m);
    await tx.abort();
  }
  t.same(counts, [1, 2, 3, 4, 5, 6, 7], 'each ABORT gives it back, counting towards maximumRedeliveries');
  const dlq = await c.subscribe('queue://ActiveMQ.DLQ');
  const dead = await dlq.receive(5000);
  t.equal(dead?.text, 'again-and-again', 'dead-lettered after the 7th ABORT');
  await c.send('queue://aborts', 'barrier');
  t.equal((await s.receive(5000))?.text, 'barrier', 'not delivered an 8th time');
});

t.test('acks held in a transaction are given back when the connection ends without COMMIT', async (t) => {
  const b = await startBroker(t);
  const admin = await open(t, b.url);
  for (const ending of ['socket destroyed', 'DISCONNECT'] as const) {
    const q = `queue://txgone-${ending === 'DISCONNECT' ? 'd' : 's'}`;
    for (let i = 0; i < 5; i++) await admin.send(q, `m${i}`);
    const raw = await RawPeer.connected(b.port);
    raw.send({ t: 'SUBSCRIBE', sid: 1, dest: q, ack: 'individual', prefetch: 10, rid: 1 });
    await raw.waitFor((c) => c['t'] === 'MESSAGE' && c['tag'] === 5, 'five deliveries');
    raw.send({ t: 'BEGIN', tx: 'T', rid: 2 });
    for (let tag = 1; tag <= 3; tag++) raw.send({ t: 'ACK', sid: 1, tag, tx: 'T' });
    raw.send({ t: 'ACK', sid: 1, tag: 4, rid: 3 }); // outside the transaction: final
    await raw.waitFor((c) => c['t'] === 'RECEIPT' && c['rid'] === 3, 'receipt of the plain ACK');
    if (ending === 'DISCONNECT') {
      raw.send({ t: 'DISCONNECT', rid: 4 });
      await raw.waitClosed('after DISCONNECT');
    } else {
      raw.destroy();
      await raw.done;
    }
    const sub = await admin.subscribe(q, { ack: 'client' });
    await admin.send(q, 'barrier');
    const back: { text: string; redelivered: boolean }[] = [];
    for (;;) {
      const m = await sub.receive(5000);
      if (!m) throw new Error('the barrier did not arrive');
      if (m.text === 'barrier') {
        m.ack();
        break;
      }
      back.push({ text: m.text, redelivered: m.redelivered });
    }
    t.same(back.map((m) => m.text).sort(), ['m0', 'm1', 'm2', 'm4'], `${ending}: the transaction's 3 acks and the unacked 5th come back, the plain ack does not`);
    t.ok(back.every((m) => m.redelivered), 'flagged redelivered');
    await sub.close();
  }
});
