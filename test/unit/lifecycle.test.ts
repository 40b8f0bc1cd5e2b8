// Services with a lifecycle, in process: order, reverse stop, stop during start (issue 15 item 3).
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import t from 'tap';
import { Broker } from '../../src/broker/broker.js';
import { parseConfig } from '../../src/config/config.js';
import { FerryError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { FerryNode } from '../../src/node/ferry-node.js';
import { type Service, sleep } from '../../src/node/service.js';
import { LevelStore } from '../../src/store/level-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';

function dir(t: { teardown(fn: () => unknown): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'ferrymq-lifecycle-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A service that records its calls; `hold` makes its start wait (abortably) for that many ms. */
function recorder(name: string, log: string[], hold = 0): Service {
  return {
    name,
    async start(signal) {
      log.push(`start ${name}`);
      if (hold > 0) await sleep(hold, signal, name);
      log.push(`started ${name}`);
    },
    async stop() {
      log.push(`stop ${name}`);
    },
  };
}

// No web console: its default port (8161) is fixed, and a suite running beside this one may hold it.
const memConfig = () =>
  parseConfig('<broker brokerName="lc" persistent="false"><transportConnectors><transportConnector uri="tcp://127.0.0.1:0"/></transportConnectors><webConsole enabled="false"/></broker>').config;

t.test('services start in order and stop in reverse', async (t) => {
  const node = new FerryNode(memConfig(), silentLogger(), new MemoryStore());
  const log: string[] = [];
  node.addService(recorder('bridge', log));
  node.addService(recorder('console', log), { standby: true });
  await node.start();
  t.equal(node.role, 'standalone');
  t.strictSame(log, ['start console', 'started console', 'start bridge', 'started bridge'], 'console before the store, bridge after the connector');
  await node.stop();
  t.strictSame(log.slice(4), ['stop bridge', 'stop console'], 'reverse order');
  t.equal(node.connectors[0]!.connectionCount, 0);
});

t.test('stop() during start(): the starting service is aborted, later ones never start, start rejects', async (t) => {
  const node = new FerryNode(memConfig(), silentLogger(), new MemoryStore());
  const log: string[] = [];
  node.addService(recorder('slow', log, 60_000));
  node.addService(recorder('after', log));
  const starting = node.start();
  await t.resolves(
    (async () => {
      const deadline = Date.now() + 5000;
      while (!log.includes('start slow')) {
        if (Date.now() > deadline) throw new Error(`the slow service did not start within 5 s (log: ${log.join(', ')})`);
        await new Promise((r) => setImmediate(r));
      }
    })(),
  );
  const port = node.connectors[0]!.port; // bound before 'slow' started
  t.not(port, 0, 'the connector was listening');
  const t0 = Date.now();
  await node.stop();
  const took = Date.now() - t0;
  t.ok(took < 2000, `stop returned in ${took} ms, not after the 60 s wait`);
  await t.rejects(starting, { code: 'FERRY_BROKER_STOPPING' }, 'start rejects: the node did not start');
  t.equal(node.role, 'stopped');
  t.notOk(log.includes('started slow'), 'slow service was aborted');
  t.notOk(log.includes('start after'), 'the service after it never started');
  t.ok(log.includes('stop slow'), 'the aborted service was stopped');
  // The connector (before 'slow') was listening; it must be closed now.
  const refused = await new Promise<boolean>((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(false)));
    s.on('error', () => resolve(true));
  });
  t.ok(refused, `nothing listens on ${port} after stop`);
});

t.test('Broker.stop while start is opening the store: start rejects, the store (and its lock) is closed', async (t) => {
  const d = join(dir(t), 'db');
  const broker = new Broker({ name: 'b', store: new LevelStore(d), logger: silentLogger() });
  const starting = broker.start();
  await broker.stop();
  await t.rejects(starting, { code: 'FERRY_BROKER_STOPPING' });
  const other = new Level(d);
  await t.resolves(other.open(), 'the store is free again: nothing kept it open after stop');
  await other.close();
});

t.test('a node waiting for a locked store: role slave, no listener, stop() ends the wait at once', async (t) => {
  const d = dir(t);
  const holder = new Level(join(d, 'leveldb'));
  await holder.open(); // LevelDB's LOCK, as another master would hold it
  t.teardown(() => holder.close());
  const { config } = parseConfig(
    `<broker brokerName="standby" dataDirectory="${d}"><transportConnectors><transportConnector uri="tcp://127.0.0.1:0"/></transportConnectors><webConsole enabled="false"/></broker>`,
    { overrides: { lockAcquireSleepIntervalMs: 20 } },
  );
  const node = new FerryNode(config, silentLogger());
  const starting = node.start();
  const deadline = Date.now() + 5000;
  while (node.role !== 'slave') {
    if (Date.now() > deadline) throw new Error(`node did not report role slave within 5 s (role ${node.role})`);
    await new Promise((r) => setTimeout(r, 5));
  }
  t.equal(node.connectors[0]!.connectionCount, 0);
  t.equal(node.connectors[0]!.port, 0, 'the connector never bound a port');
  const t0 = Date.now();
  await node.stop();
  t.ok(Date.now() - t0 < 1000, `stopped in ${Date.now() - t0} ms`);
  const err = await starting.then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof FerryError && err.code === 'FERRY_BROKER_STOPPING', `start rejected with FERRY_BROKER_STOPPING: ${String(err)}`);
  t.equal(node.role, 'stopped');
});
