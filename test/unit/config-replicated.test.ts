// <replicatedLevelDB>: ActiveMQ 5.9–5.16's attributes, defaults, and one-line errors naming file, element and value.
import t from 'tap';
import { parseConfig } from '../../src/config/config.js';

const CWD = '/srv/ferry';
const parse = (inner: string, file = 'replicated.xml') =>
  parseConfig(`<broker brokerName="b"><persistenceAdapter>${inner}</persistenceAdapter></broker>`, { cwd: CWD, file });

t.test('defaults: three replicas, loopback bind on a free port, quorum_mem, 2 s sessions', async (t) => {
  const { config, warnings } = parse('<replicatedLevelDB directory="data/r"/>');
  t.strictSame(warnings, []);
  t.equal(config.store.kind, 'levelDB');
  t.equal(config.store.directory, '/srv/ferry/data/r');
  t.strictSame(config.replication, {
    replicas: 3,
    bind: { host: '127.0.0.1', port: 0 },
    zkAddress: '127.0.0.1:2181',
    zkPath: '/ferrymq/leveldb-stores',
    zkSessionTimeoutMs: 2000,
    hostname: '127.0.0.1',
    sync: 'quorum_mem',
  });
  t.equal(parse('<levelDB directory="d"/>').config.replication, null, 'a plain levelDB store is not replicated');
});

t.test('every attribute of the issue, and ActiveMQ spellings of durations', async (t) => {
  const { config, warnings } = parse(
    '<replicatedLevelDB directory="/var/r" replicas="5" bind="tcp://0.0.0.0:61619" zkAddress="127.0.0.1:2181,127.0.0.2:2182" ' +
      'zkPath="/activemq/leveldb-stores" zkSessionTimeout="3s" hostname="broker1.example" sync="QUORUM_DISK"/>',
  );
  t.strictSame(warnings, []);
  t.strictSame(config.replication, {
    replicas: 5,
    bind: { host: '0.0.0.0', port: 61619 },
    zkAddress: '127.0.0.1:2181,127.0.0.2:2182',
    zkPath: '/activemq/leveldb-stores',
    zkSessionTimeoutMs: 3000,
    hostname: 'broker1.example',
    sync: 'quorum_disk',
  });
  t.equal(parse('<replicatedLevelDB bind="tcp://0.0.0.0:0"/>').config.replication?.hostname, '127.0.0.1', 'a wildcard bind is advertised as loopback unless hostname says otherwise');
  t.equal(parse('<replicatedLevelDB zkSessionTimeout="2500"/>').config.replication?.zkSessionTimeoutMs, 2500, 'a bare number is ms');
  t.match(parse('<replicatedLevelDB weight="2"/>').warnings, [{ message: /replicatedLevelDB> attribute weight is not supported/ }]);
  t.equal(
    parseConfig('<broker persistent="false"><persistenceAdapter><replicatedLevelDB/></persistenceAdapter></broker>', { cwd: CWD }).config.replication,
    null,
    'persistent="false" keeps nothing to replicate',
  );
});

t.test('bad values: one line naming the file, the element, the attribute and the value', async (t) => {
  const bad: [string, RegExp][] = [
    ['replicas="0"', /replicated\.xml: <broker><persistenceAdapter><replicatedLevelDB> attribute replicas="0": must be an integer 1\.\.15/],
    ['replicas="three"', /attribute replicas="three"/],
    ['sync="remote_mem"', /attribute sync="remote_mem": must be one of quorum_mem, quorum_disk, local_disk/],
    ['bind="udp://127.0.0.1:1"', /attribute bind="udp:\/\/127\.0\.0\.1:1": .*expected e\.g\. tcp:\/\/127\.0\.0\.1:0/],
    ['bind="tcp://127.0.0.1"', /attribute bind="tcp:\/\/127\.0\.0\.1"/],
    ['zkAddress="zk1"', /attribute zkAddress="zk1": expected host:port/],
    ['zkPath="ferrymq"', /attribute zkPath="ferrymq": expected an absolute znode path/],
    ['zkSessionTimeout="100ms"', /attribute zkSessionTimeout="100ms": must be a duration of 1s\.\.600s/],
    ['hostname="a b"', /attribute hostname="a b"/],
  ];
  for (const [attr, msg] of bad) {
    t.throws(() => parse(`<replicatedLevelDB directory="d" ${attr}/>`), { name: 'ConfigError', message: msg }, attr);
  }
  t.throws(() => parse('<replicatedLevelDB directory="d"/><levelDB directory="e"/>'), { name: 'ConfigError', message: /only one store/ });
});

t.test('conf/replicated-a.xml, -b, -c: one group, three stores, three client ports', async (t) => {
  const { loadConfigFile } = await import('../../src/config/config.js');
  const { fileURLToPath } = await import('node:url');
  const dirs = new Set<string>();
  for (const [n, port] of [['a', 61636], ['b', 61637], ['c', 61638]] as const) {
    const { config, warnings } = loadConfigFile(fileURLToPath(new URL(`../../conf/replicated-${n}.xml`, import.meta.url)), undefined, { cwd: CWD });
    t.strictSame(warnings, [], n);
    t.match(config.replication, { replicas: 3, zkAddress: '127.0.0.1:2181', zkPath: '/ferrymq/leveldb-stores', sync: 'quorum_disk' }, n);
    t.equal(config.transportConnectors[0]!.endpoint.port, port);
    dirs.add(config.store.directory);
  }
  t.equal(dirs.size, 3, 'each node has its own store');
});
