// The replication path in one process, without ZooKeeper: a master store and its replication server, replicas
// following it over loopback TCP; quorum acknowledgements, FERRY_NO_QUORUM, catch-up and snapshots.
import t from 'tap';
import { LogWindow } from '../../src/ha/replicated/log-window.js';
import { Replica } from '../../src/ha/replicated/replica.js';
import { ReplicatedStore } from '../../src/ha/replicated/replicated-store.js';
import { ReplicationServer } from '../../src/ha/replicated/replication-server.js';
import { silentLogger } from '../../src/log.js';
import { tempDir } from '../helpers/broker.js';
import { msg } from '../helpers/store-conformance.js';

const log = silentLogger();

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const add = (s: ReplicatedStore, m: ReturnType<typeof msg>): Promise<void> =>
  new Promise((resolve, reject) => s.add(m, (err) => (err ? reject(err) : resolve())));

t.test('quorum_disk: refused without a replica; receipted once one holds it; a late replica gets a snapshot with the audit', async (t) => {
  const server = new ReplicationServer({ host: '127.0.0.1', port: 0 }, log);
  await server.listen();
  const master = new ReplicatedStore(tempDir(t), 'quorum_disk', 2, log);
  master.lead(1, new LogWindow({ epoch: 0, pos: 0, exact: true }), server);
  await master.open();
  server.lead(master);
  t.teardown(async () => {
    await master.close();
    await server.close();
  });

  await t.rejects(add(master, msg(1, { pid: 'p1', pseq: 1 })), { code: 'FERRY_NO_QUORUM' }, 'no replica: refused');

  const b = new Replica({ id: 'b', broker: 'b', directory: tempDir(t), sync: 'quorum_disk', logger: log }, { epoch: 0, pos: 0, exact: true });
  t.teardown(() => b.close());
  await b.follow(`127.0.0.1:${server.port}`);
  await until(() => master.hasQuorum, 'replica b live');
  for (let i = 1; i <= 10; i++) await add(master, msg(i, { pid: 'p1', pseq: i }));
  t.pass('10 sends receipted with replica b holding them');
  // The newest of p1's messages goes too: the audit's 10 then lives only in the producer record, not in a message.
  for (const i of [1, 2, 3, 4, 5, 6, 10]) master.remove(i, 'queue://a');
  await new Promise<void>((resolve, reject) => master.barrier((err) => (err ? reject(err) : resolve()), true));
  t.same(server.status().map((r) => [r.broker, r.state, r.lag]), [['b', 'live', 0]], 'b is live with no lag');
  t.equal(b.position.pos, master.position.pos, 'b is at the master\'s position');

  // c crashed at some point (inexact): it must get the whole store, producers' sequences included.
  const cDir = tempDir(t);
  const c = new Replica({ id: 'c', broker: 'c', directory: cDir, sync: 'quorum_disk', logger: log }, { epoch: 0, pos: 3, exact: false });
  await c.follow(`127.0.0.1:${server.port}`);
  await until(() => server.status().some((r) => r.broker === 'c' && r.state === 'live'), 'replica c live after its snapshot');
  await c.close();
  const promoted = new ReplicatedStore(cDir, 'local_disk', 2, log);
  promoted.lead(2, new LogWindow({ epoch: 1, pos: 0, exact: true }), { entry: () => {} });
  const rec = await promoted.open();
  t.equal(rec.destinations.get('queue://a')?.count, 3, 'the snapshot holds the 3 messages not removed');
  t.equal(rec.producers.get('p1'), 10, 'and the duplicate audit (producer p1 at 10)');
  t.same((await promoted.load('queue://a', 0, 100)).map((m) => m.seq), [7, 8, 9]);
  await promoted.close();
});

t.test('a replica that was following catches up from the log after a reconnect, without a snapshot', async (t) => {
  const server = new ReplicationServer({ host: '127.0.0.1', port: 0 }, log);
  await server.listen();
  const master = new ReplicatedStore(tempDir(t), 'quorum_mem', 2, log);
  master.lead(1, new LogWindow({ epoch: 0, pos: 0, exact: true }), server);
  await master.open();
  server.lead(master);
  t.teardown(async () => {
    await master.close();
    await server.close();
  });
  const b = new Replica({ id: 'b', broker: 'b', directory: tempDir(t), sync: 'quorum_mem', logger: log }, { epoch: 0, pos: 0, exact: true });
  t.teardown(() => b.close());
  await b.follow(`127.0.0.1:${server.port}`);
  await until(() => master.hasQuorum, 'replica b live');
  for (let i = 1; i <= 5; i++) await add(master, msg(i));
  await b.unfollow();
  await until(() => !master.hasQuorum, 'the master notices b is gone');
  await t.rejects(add(master, msg(6)), { code: 'FERRY_NO_QUORUM' });
  master.mark('queue://a', 5); // written while b is away: it must get it from the log
  await b.follow(`127.0.0.1:${server.port}`);
  await until(() => master.hasQuorum, 'replica b live again');
  await add(master, msg(7));
  t.equal(b.position.pos, master.position.pos, 'b caught up');
  // A snapshot would have restarted b's window at the snapshot's position; from the log, it still starts at 0.
  const kept = b.window.after({ epoch: 0, pos: 0 });
  t.equal(kept?.reduce((n, e) => n + e.ops.length, 0), master.position.pos, 'b\'s window holds every entry since 0: no snapshot');
});
