// Master/slave lock settings in ActiveMQ's vocabulary, and the tutorial's combined topology in conf/.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadConfigFile, parseConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';

const CWD = '/srv/ferry';
const CONF = fileURLToPath(new URL('../../conf/', import.meta.url));
const parse = (xml: string, overrides = {}) => parseConfig(xml, { cwd: CWD, overrides });

t.test('defaults: retry every 200 ms, keep-alive every 1000 ms', async (t) => {
  t.strictSame(parse('<broker/>').config.locker, { lockAcquireSleepIntervalMs: 200, lockKeepAlivePeriodMs: 1000 });
});

t.test('<locker><shared-file-locker lockAcquireSleepInterval/> and the adapter attributes', async (t) => {
  for (const el of ['shared-file-locker', 'sharedFileLocker']) {
    const { config, warnings } = parse(
      `<broker><persistenceAdapter><kahaDB directory="d" lockKeepAlivePeriod="500"><locker><${el} lockAcquireSleepInterval="50"/></locker></kahaDB></persistenceAdapter></broker>`,
    );
    t.strictSame(warnings, [], el);
    t.strictSame(config.locker, { lockAcquireSleepIntervalMs: 50, lockKeepAlivePeriodMs: 500 }, el);
  }
  const attr = parse('<broker><persistenceAdapter><levelDB directory="d" lockAcquireSleepInterval="1000" lockKeepAlivePeriod="0"/></persistenceAdapter></broker>');
  t.strictSame(attr.config.locker, { lockAcquireSleepIntervalMs: 1000, lockKeepAlivePeriodMs: 0 }, 'on the adapter; 0 turns the keep-alive off');
  const other = parse('<broker><persistenceAdapter><kahaDB directory="d"><locker><lease-database-locker/></locker></kahaDB></persistenceAdapter></broker>');
  t.match(other.warnings.map((w) => w.message).join('\n'), /lease-database-locker> is not supported/);
  t.throws(
    () => parse('<broker><persistenceAdapter><kahaDB directory="d"><locker><shared-file-locker lockAcquireSleepInterval="fast"/></locker></kahaDB></persistenceAdapter></broker>'),
    { name: 'ConfigError', message: /lockAcquireSleepInterval.*fast/ },
  );
  t.throws(() => parse('<broker/>', { lockKeepAlivePeriodMs: -1 }), ConfigError, 'override validated');
  t.strictSame(parse('<broker/>', { lockAcquireSleepIntervalMs: 25, lockKeepAlivePeriodMs: 300 }).config.locker, {
    lockAcquireSleepIntervalMs: 25,
    lockKeepAlivePeriodMs: 300,
  });
});

t.test('conf/tutorial-a.xml, tutorial-b.xml, tutorial-c.xml: A alone, B and C on one store', async (t) => {
  const load = (f: string) => loadConfigFile(join(CONF, f), undefined, { cwd: CWD });
  const nodes: [string, number, number, number[]][] = [
    ['tutorial-a', 61616, 8161, [61617, 61618]],
    ['tutorial-b', 61617, 8162, [61616]],
    ['tutorial-c', 61618, 8163, [61616]],
  ];
  const stores: string[] = [];
  for (const [name, port, console, peers] of nodes) {
    const { config, warnings } = load(`${name}.xml`);
    t.strictSame(warnings, [], name);
    t.equal(config.brokerName, name);
    t.strictSame(config.transportConnectors.map((c) => [c.endpoint.host, c.endpoint.port]), [['127.0.0.1', port]]);
    t.strictSame(config.webConsole, { enabled: true, host: '127.0.0.1', port: console, user: 'admin', password: 'admin' });
    const net = config.networkConnectors[0]!.network;
    t.strictSame(net.kind === 'static' && net.endpoints.map((e) => [e.host, e.port]), peers.map((p) => ['127.0.0.1', p]));
    stores.push(config.store.directory);
  }
  t.not(stores[0], stores[1], 'A has its own store');
  t.equal(stores[1], stores[2], 'B and C share one store directory');
  t.equal(stores[1], '/srv/ferry/data/tutorial-bc/kahadb');
});
