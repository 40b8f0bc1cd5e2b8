import fc from 'fast-check';
import t from 'tap';
import { ConfigError, InvalidUriError } from '../../src/errors.js';
import { parseConfig } from '../../src/config/config.js';
import { formatAdvertisement, MAX_DATAGRAM_BYTES, parseAdvertisement } from '../../src/transport/discovery/datagram.js';
import { resolveInterface } from '../../src/transport/discovery/multicast.js';
import { DEFAULT_FAILOVER_OPTIONS, parseClientUri, parseMulticastUri } from '../../src/transport/uri.js';

t.test('format: ActiveMQ layout, byte for byte', async (t) => {
  t.equal(formatAdvertisement('default', true, 'tcp://127.0.0.1:61616').toString(), 'default.ActiveMQ-4.alive.%localhost%tcp://127.0.0.1:61616');
  t.equal(formatAdvertisement('my.group', false, 'tcp://h:1').toString(), 'my.group.ActiveMQ-4.dead.%localhost%tcp://h:1');
});

t.test('parse: round trip, and what ActiveMQ itself sends', async (t) => {
  for (const alive of [true, false]) {
    const r = parseAdvertisement(formatAdvertisement('a.b-c_d', alive, 'tcp://10.0.0.5:61616?x=1'));
    t.ok(r.ok, 'parses');
    if (r.ok) {
      t.match(r.ad, { group: 'a.b-c_d', alive, brokerName: 'localhost', uri: 'tcp://10.0.0.5:61616?x=1', endpoint: { host: '10.0.0.5', port: 61616 } });
    }
  }
  const amq = parseAdvertisement(Buffer.from('default.ActiveMQ-4.alive.%brokerX%tcp://broker-1.example:61616'));
  t.match(amq, { ok: true, ad: { brokerName: 'brokerX', endpoint: { host: 'broker-1.example' } } }, 'any broker name in %…%');
  t.match(parseAdvertisement(Buffer.from('default.ActiveMQ-4.alive.%localhost%stomp://[::1]:61613')), { ok: true, ad: { endpoint: { scheme: 'stomp', host: '::1' } } });
});

t.test('parse: malformed input is a reason, never an exception', async (t) => {
  const bad: [string | Buffer, RegExp][] = [
    [Buffer.alloc(0), /empty/],
    [Buffer.alloc(MAX_DATAGRAM_BYTES + 1, 0x41), /limit 4096/],
    [Buffer.from([0x64, 0x00, 0x65]), /byte 0x00 at offset 1/],
    ['default.ActiveMQ-4.alive.%localhost%tcp://höst:1', /byte 0xc3/],
    ['default.ActiveMQ-4.alive.%local host%tcp://h:1', /byte 0x20/],
    ['hello', /not <group>\.ActiveMQ-4/],
    ['default.ActiveMQ-4.alive.%localhost%', /not <group>/],
    ['default.ActiveMQ-4.alive.localhost%tcp://h:1', /not <group>/],
    ['default.ActiveMQ-4.zombie.%localhost%tcp://h:1', /not <group>/],
    ['default.ActiveMQ-5.alive.%localhost%tcp://h:1', /not <group>/],
    ['.ActiveMQ-4.alive.%localhost%tcp://h:1', /not <group>/],
    ['default.ActiveMQ-4.alive.%localhost%http://h:1', /unsupported scheme "http"/],
    ['default.ActiveMQ-4.alive.%localhost%tcp://h', /the port is missing/],
    ['default.ActiveMQ-4.alive.%localhost%tcp://h:99999', /port must be 0\.\.65535/],
    ['default.ActiveMQ-4.alive.%localhost%tcp://h:0', /has port 0/],
    ['default.ActiveMQ-4.alive.%localhost%tcp://0.0.0.0:61616', /no host a peer can dial/],
    ['default.ActiveMQ-4.alive.%localhost%tcp://[::]:61616', /no host a peer can dial/],
    ['default.ActiveMQ-4.alive.%localhost%tcp://h:1#frag', /fragment/],
  ];
  for (const [input, re] of bad) {
    const r = parseAdvertisement(typeof input === 'string' ? Buffer.from(input, 'utf8') : input);
    t.notOk(r.ok, `rejected: ${JSON.stringify(String(input).slice(0, 60))}`);
    if (!r.ok) t.match(r.reason, re);
  }
});

t.test('parse: arbitrary bytes never throw; anything accepted is printable and dialable', async (t) => {
  const prefix = fc.constantFrom('', 'default.ActiveMQ-4.alive.%localhost%', 'default.ActiveMQ-4.dead.%x%tcp://');
  fc.assert(
    fc.property(prefix, fc.uint8Array({ maxLength: 300 }), (p, bytes) => {
      const r = parseAdvertisement(Buffer.concat([Buffer.from(p), bytes]));
      if (r.ok) return r.ad.endpoint.port > 0 && /^[\x21-\x7e]+$/.test(r.ad.uri);
      return typeof r.reason === 'string';
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 random datagrams parsed without an exception');
});

t.test('multicast URI options', async (t) => {
  t.strictSame(parseMulticastUri('multicast://default'), {
    group: 'default',
    address: '239.255.2.3',
    port: 6155,
    interfaceAddress: '127.0.0.1',
    networkInterface: null,
    timeToLive: 1,
    keepAliveIntervalMs: 500,
  }, 'defaults: loopback, TTL 1, 500 ms');
  t.match(parseMulticastUri('multicast://default?group=prod&interface=10.1.2.3&timeToLive=4&keepAliveInterval=250'), {
    group: 'prod', interfaceAddress: '10.1.2.3', networkInterface: null, timeToLive: 4, keepAliveIntervalMs: 250,
  });
  t.match(parseMulticastUri('multicast://default?networkInterface=eth0'), { interfaceAddress: null, networkInterface: 'eth0' }, 'a NIC replaces the loopback default');
  const bad: [string, RegExp][] = [
    ['multicast://default?interface=eth0', /option interface must be a local IPv4 address, got "eth0"/],
    ['multicast://default?interface=0.0.0.0', /option interface must be a local IPv4 address/],
    ['multicast://default?interface=::1', /option interface must be a local IPv4 address/],
    ['multicast://default?interface=127.0.0.1&networkInterface=lo', /either interface .* or networkInterface/],
    ['multicast://default?timeToLive=256', /timeToLive must be an integer 0\.\.255, got "256"/],
    ['multicast://default?keepAliveInterval=5', /keepAliveInterval must be an integer number of ms 10\.\.60000, got "5"/],
    ['multicast://default?group=a b', /option group must be a name/],
    ['multicast://default?ttl=2', /unknown option "ttl" \(valid: group, interface, networkInterface, timeToLive, keepAliveInterval\)/],
    ['static:(tcp://a:1)', /expected multicast:\/\/<group>/],
  ];
  for (const [uri, re] of bad) {
    t.throws(() => parseMulticastUri(uri), InvalidUriError, uri);
    t.match(catchMessage(() => parseMulticastUri(uri)), re, uri);
  }
});

t.test('interface resolution: never left to the kernel; unknown ones are config errors', async (t) => {
  t.equal(resolveInterface(parseMulticastUri('multicast://default')), '127.0.0.1');
  t.equal(resolveInterface(parseMulticastUri('multicast://default?networkInterface=lo')), '127.0.0.1', 'a NIC name gives its IPv4');
  t.throws(() => resolveInterface(parseMulticastUri('multicast://default?interface=203.0.113.77')), ConfigError);
  t.match(catchMessage(() => resolveInterface(parseMulticastUri('multicast://default?interface=203.0.113.77'))), /interface 203\.0\.113\.77 is not an address of this machine \(have: .*lo 127\.0\.0\.1/);
  t.match(catchMessage(() => resolveInterface(parseMulticastUri('multicast://default?networkInterface=nosuch0'))), /network interface "nosuch0" has no IPv4 address here/);
});

t.test('client discovery: URLs', async (t) => {
  const c = parseClientUri('discovery:(multicast://default)');
  t.match(c, { failover: true, endpoints: [], discovery: { group: 'default', interfaceAddress: '127.0.0.1' } });
  t.strictSame(c.options, DEFAULT_FAILOVER_OPTIONS, 'failover defaults');
  t.match(parseClientUri('DISCOVERY:(multicast://g?group=h)?randomize=false&maxReconnectDelay=500'), {
    discovery: { group: 'h' }, options: { randomize: false, maxReconnectDelayMs: 500 },
  });
  t.match(parseClientUri('discovery:multicast://g'), { discovery: { group: 'g' } }, 'bare form');
  t.notOk('discovery' in parseClientUri('failover:(tcp://a:1)'), 'failover URLs have no discovery');
  const bad: [string, RegExp][] = [
    ['discovery:(static:(tcp://a:1))', /expected discovery:\(multicast:\/\/<group>\)/],
    ['discovery:(multicast://a,multicast://b)', /takes one multicast/],
    ['discovery:(multicast://a)?priorityBackup=true', /priorityBackup needs a failover/],
    ['discovery:(multicast://a)?bogus=1', /unknown failover option "bogus"/],
    ['discovery:(multicast://a?timeToLive=x)', /timeToLive must be an integer/],
    ['discovery:(multicast://a)x', /unexpected "x" after "\)"/],
  ];
  for (const [uri, re] of bad) t.match(catchMessage(() => parseClientUri(uri)), re, uri);
});

t.test('config: discovery options on discoveryUri and on a multicast network connector', async (t) => {
  const parse = (xml: string) => parseConfig(xml, { cwd: '/srv/ferry' }).config;
  const cfg = parse(`<broker>
    <transportConnectors><transportConnector uri="tcp://0.0.0.0:61616" discoveryUri="multicast://default?networkInterface=eth0"/></transportConnectors>
    <networkConnectors><networkConnector uri="multicast://default?interface=10.0.0.2&amp;keepAliveInterval=200&amp;networkTTL=2"/></networkConnectors>
  </broker>`);
  t.equal(cfg.transportConnectors[0]!.discoveryUri, 'multicast://default?networkInterface=eth0');
  t.match(cfg.networkConnectors[0], { networkTTL: 2, network: { kind: 'multicast', options: { interface: '10.0.0.2', keepAliveInterval: '200' } } }, 'agent options kept, bridge options read');
  const tc = (d: string) => `<broker><transportConnectors><transportConnector uri="tcp://h:1" discoveryUri="${d}"/></transportConnectors></broker>`;
  const nc = (u: string) => `<broker><networkConnectors><networkConnector uri="${u}"/></networkConnectors></broker>`;
  t.match(catchMessage(() => parse(tc('multicast://default?timeToLive=-1'))), /attribute discoveryUri=.*timeToLive must be an integer 0\.\.255/);
  t.match(catchMessage(() => parse(tc('multicast://default?networkTTL=2'))), /attribute discoveryUri=.*unknown option "networkTTL"/);
  t.match(catchMessage(() => parse(nc('multicast://default?interface=nic0'))), /<networkConnector> attribute uri=.*option interface must be a local IPv4 address/);
  t.match(catchMessage(() => parse(nc('multicast://default?bogus=1'))), /unknown option bogus \(known: .*keepAliveInterval\)/);
  t.match(catchMessage(() => parse(nc('static:(tcp://a:1)?interface=127.0.0.1'))), /unknown option interface/, 'discovery options only on multicast');
});

function catchMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return '(no error)';
}
