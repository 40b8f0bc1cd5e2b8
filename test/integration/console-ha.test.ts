import t from 'tap';
import { startBroker, tempDir } from '../helpers/broker.js';
import { http, startConsoleBroker, until } from '../helpers/console.js';

/**
 * Shared-store master/slave and the console: the slave serves its console while it waits for the lock, saying
 * who holds it, and shows itself master once it takes over.
 */
t.test('a waiting slave serves the console, then shows master after takeover', async (t) => {
  const dataDir = tempDir(t);
  const master = await startConsoleBroker(t, { dataDir, name: 'pair' });
  const m = (await http(master.consoleUrl, 'GET', '/api/broker')).json;
  t.match(m, { running: true, role: { kind: 'master' }, roleText: /^master \(holds lock .*LOCK\)$/ });

  const slave = await startBroker(t, { dataDir, console: true, noWait: true, args: ['--name', 'pair'] });
  const l = await slave.waitForLog((x) => typeof x['consoleUrl'] === 'string', 'the slave\'s web console');
  const u = String(l['consoleUrl']);
  const waiting = await until('the slave to say it waits for the lock', async () => {
    const b = (await http(u, 'GET', '/api/broker')).json;
    return b.role.kind === 'slave' ? b : undefined;
  });
  t.match(waiting, { running: false, roleText: /^slave \(waiting for lock on .*LOCK, held by pair \(pid \d+ on .+\)\)$/ });
  t.equal((await http(u, 'GET', '/queues')).status, 200, 'its pages are served');
  const metrics = (await http(u, 'GET', '/metrics')).text;
  t.match(metrics, /ferrymq_role\{role="slave"\} 1\n/);
  t.match(metrics, /ferrymq_broker_running 0\n/);
  const refused = await http(u, 'POST', '/api/queues', { auth: 'admin:admin', body: { name: 'Q' } });
  t.equal(refused.status, 503, 'no actions on a slave');

  await master.kill('SIGKILL');
  const now = await until('the slave\'s console to show it master and running', async () => {
    const b = (await http(u, 'GET', '/api/broker')).json;
    return b.running && b.role.kind === 'master' ? b : undefined;
  }, 20_000);
  t.match(now.roleText, /^master \(holds lock /);
  t.equal((await http(u, 'POST', '/api/queues', { auth: 'admin:admin', body: { name: 'Q' } })).status, 201, 'actions work on the new master');
});
