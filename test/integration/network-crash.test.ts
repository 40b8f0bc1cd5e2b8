import t from 'tap';
import { connect, type Connection } from '../../src/index.js';
import { bridgeUp, demandFor, freePort, startNode, tcp } from '../helpers/cluster.js';

type Tap = typeof t;

async function client(t: Tap, url: string): Promise<Connection> {
  const c = await connect(url);
  t.teardown(() => c.close());
  return c;
}

/*
 * The source side of a bridge crashing. A forward is acked on A (deleted from its store) only after B has stored
 * it, and those acks are gathered per turn of the event loop: killed in between, A has forwards B holds that A
 * still has stored. They come back after the restart flagged redelivered (they are at or below A's dispatch
 * watermark), so the consumer may see one twice but never unflagged, and nothing is lost.
 */
t.test('kill -9 A (the producer\'s broker) mid-flow and restart it: every persistent message delivered, no unflagged duplicate', async (t) => {
  const [pa, pb] = await Promise.all([freePort(), freePort()]);
  const b = await startNode(t, { name: 'B', port: pb });
  const network = [`static:(${tcp(pb)})?initialReconnectDelay=100&maxReconnectDelay=500`];
  const a = await startNode(t, { name: 'A', port: pa, network });
  await bridgeUp(a, 'B');
  const consumer = await client(t, tcp(pb));
  const sub = await consumer.subscribe('queue://crash-a', { ack: 'client', prefetch: 100 });
  await demandFor(a, 'queue://crash-a');
  const N = 4000;
  // The producer resends what A had not receipted when it died; A's duplicate audit drops what it had stored.
  const producer = await client(t, `failover:(${tcp(pa)})?initialReconnectDelay=50&maxReconnectDelay=500`);
  const seen = new Map<string, number>();
  let unflaggedDuplicates = 0;
  const consuming = (async () => {
    while (seen.size < N) {
      const m = await sub.receive(30_000);
      if (m === null) break;
      const prev = seen.get(m.text) ?? 0;
      if (prev > 0 && !m.redelivered) unflaggedDuplicates++;
      seen.set(m.text, prev + 1);
      m.ack();
    }
  })();
  const sending = (async () => {
    let window: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      window.push(producer.send('queue://crash-a', `m${i}`));
      if (window.length >= 200) {
        await Promise.all(window);
        window = [];
      }
    }
    await Promise.all(window);
  })();
  // Kill A once part of the flow has crossed (forwards and their acks in flight), restart it on its store.
  const until = Date.now() + 30_000;
  while (seen.size < N / 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  t.ok(seen.size >= N / 4, `a quarter of the flow reached B before the kill (${seen.size})`);
  await a.kill('SIGKILL');
  // What B stored before A died: only those can come twice. How many do depends on how far A's acks (deletes
  // written with its next group commit) trailed B's receipts at the kill, which a busy disk stretches.
  const held = (await consumer.stats()).find((s) => s.name === 'queue://crash-a')!.enqueueCount;
  const a2 = await startNode(t, { name: 'A', port: pa, dataDir: a.dataDir, network });
  await bridgeUp(a2, 'B');
  await sending;
  await consuming;
  t.equal(seen.size, N, `${N} unique received on B (a timeout of 30 s without a message ends the wait)`);
  t.equal(unflaggedDuplicates, 0, 'every duplicate was flagged redelivered');
  const twice = [...seen.values()].filter((n) => n > 1).length;
  t.ok(twice < held, `duplicates (${twice}) are among the ${held} messages B held before the kill, and not all of them (A's earlier acks were kept)`);
});
