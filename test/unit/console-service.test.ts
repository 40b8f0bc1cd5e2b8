import { createServer } from 'node:net';
import t from 'tap';
import { Broker } from '../../src/broker/broker.js';
import type { NodeRole } from '../../src/console/role.js';
import { exposureWarning, WebConsole } from '../../src/console/web-console.js';
import { silentLogger } from '../../src/log.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { http } from '../helpers/console.js';

/** The console as a service: it serves before the broker runs (a slave waiting for the lock), and says so. */

function consoleFor(broker: Broker, role: () => NodeRole, port = 0): WebConsole {
  return new WebConsole({ enabled: true, host: '127.0.0.1', port, user: 'admin', password: 'pw' }, {
    broker,
    store: { kind: 'memory', directory: '/nowhere' },
    role: { role },
    connectors: () => [],
    networkConnectors: () => [],
  }, silentLogger());
}

t.test('a slave waiting for the lock serves the console, then shows master once it runs', async (t) => {
  const broker = new Broker({ name: 'pair', store: new MemoryStore(), logger: silentLogger() });
  let role: NodeRole = { kind: 'slave', lock: '/data/pair/LOCK', holder: 'other (pid 7 on h)' };
  const c = consoleFor(broker, () => role);
  await c.start();
  await c.start(); // idempotent
  t.teardown(() => c.stop());
  const u = c.url;
  t.match(u, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  t.match((await http(u, 'GET', '/api/broker')).json, { name: 'pair', running: false, roleText: 'slave (waiting for lock on /data/pair/LOCK, held by other (pid 7 on h))', role: { kind: 'slave' } });
  t.same((await http(u, 'GET', '/api/queues')).json, []);
  const purge = await http(u, 'POST', '/api/queues', { auth: 'admin:pw', body: { name: 'Q' } });
  t.equal(purge.status, 503, 'actions wait for a running broker');
  t.match(purge.json.error, /broker pair is not running/);
  let m = await http(u, 'GET', '/metrics');
  t.match(m.text, /ferrymq_role\{role="slave"\} 1\n/);
  t.match(m.text, /ferrymq_broker_running 0\n/);
  t.equal((await http(u, 'GET', '/queues')).status, 200, 'the pages are served');

  await broker.start();
  t.teardown(() => broker.stop());
  role = { kind: 'master', lock: '/data/pair/LOCK' };
  t.match((await http(u, 'GET', '/api/broker')).json, { running: true, roleText: 'master (holds lock /data/pair/LOCK)' });
  t.equal((await http(u, 'POST', '/api/queues', { auth: 'admin:pw', body: { name: 'Q' } })).status, 201);
  m = await http(u, 'GET', '/metrics');
  t.match(m.text, /ferrymq_role\{role="master"\} 1\n/);
  t.notMatch(m.text, /ferrymq_role\{role="slave"\}/, 'the old role is gone');
  await c.stop();
  await c.stop();
  await t.rejects(http(u, 'GET', '/api/broker', { timeoutMs: 2000 }), 'stopped: nothing listens');
});

t.test('a port in use fails start with a message naming the address and the way out', async (t) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const broker = new Broker({ name: 'x', store: new MemoryStore(), logger: silentLogger() });
  await t.rejects(consoleFor(broker, () => ({ kind: 'standalone' }), port).start(), {
    code: 'FERRY_CONFIG',
    message: new RegExp(`web console cannot listen on 127.0.0.1:${port}: the address is in use .*--no-console`),
  });
});

t.test('startup warning for a console other machines can reach', async (t) => {
  const base = { enabled: true, port: 8161 };
  t.equal(exposureWarning({ ...base, host: '127.0.0.1' }, false), null, 'loopback: no warning');
  t.equal(exposureWarning({ ...base, host: '::1' }, false), null);
  t.match(exposureWarning({ ...base, host: '0.0.0.0' }, false), /has no credentials: anyone who reaches it reads/);
  t.match(exposureWarning({ ...base, host: '10.1.2.3', user: 'admin', password: 'admin' }, true), /default admin\/admin/);
  t.equal(exposureWarning({ ...base, host: '0.0.0.0', user: 'ops', password: 'long-secret' }, true), null);
});
