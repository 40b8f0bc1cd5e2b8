import t, { type Test } from 'tap';
import { InvalidUriError } from '../../src/errors.js';
import {
  DEFAULT_FAILOVER_OPTIONS,
  DEFAULT_MAX_FRAME_SIZE_BYTES,
  DEFAULT_MAX_INACTIVITY_DURATION_MS,
  DEFAULT_MAXIMUM_CONNECTIONS,
  DEFAULT_PORT,
  connectorOptions,
  parseClientUri,
  parseEndpointUri,
  parseNetworkUri,
  uriErrorReason,
} from '../../src/transport/uri.js';

/** Assert `fn` throws an InvalidUriError whose message matches `re`. */
function throwsUri(tt: Test, fn: () => unknown, re: RegExp, msg = String(re)): void {
  try {
    fn();
    tt.fail(`expected InvalidUriError matching ${re}`);
  } catch (e) {
    tt.type(e, InvalidUriError, msg);
    tt.equal((e as InvalidUriError).code, 'FERRY_INVALID_URI');
    tt.match((e as Error).message, re, msg);
  }
}

t.test('constants', async (tt) => {
  tt.equal(DEFAULT_PORT, 61616);
  tt.equal(DEFAULT_MAX_FRAME_SIZE_BYTES, 104857600);
  tt.equal(DEFAULT_MAX_INACTIVITY_DURATION_MS, 30000);
  tt.equal(DEFAULT_MAXIMUM_CONNECTIONS, 1000);
  tt.strictSame(DEFAULT_FAILOVER_OPTIONS, {
    randomize: true,
    initialReconnectDelayMs: 10,
    maxReconnectDelayMs: 30000,
    useExponentialBackOff: true,
    backOffMultiplier: 2,
    maxReconnectAttempts: -1,
    startupMaxReconnectAttempts: -1,
    timeoutMs: -1,
    priorityBackup: false,
  });
  tt.ok(Object.isFrozen(DEFAULT_FAILOVER_OPTIONS));
});

t.test('parseEndpointUri accepts names, IPv4, IPv6, options', async (tt) => {
  const u = parseEndpointUri('tcp://127.0.0.1:61616?maximumConnections=1000&wireFormat.maxFrameSize=104857600');
  tt.strictSame(
    { ...u, options: { ...u.options } },
    {
      scheme: 'tcp',
      host: '127.0.0.1',
      port: 61616,
      options: { maximumConnections: '1000', 'wireFormat.maxFrameSize': '104857600' },
      raw: 'tcp://127.0.0.1:61616?maximumConnections=1000&wireFormat.maxFrameSize=104857600',
    },
  );
  tt.ok(Object.isFrozen(u.options));
  tt.match(parseEndpointUri('stomp://broker-1.example.com:61613/'), { scheme: 'stomp', host: 'broker-1.example.com', port: 61613 });
  tt.match(parseEndpointUri('TCP://[::1]:0'), { scheme: 'tcp', host: '::1', port: 0 });
  tt.match(parseEndpointUri('tcp://[fe80::1]', 5), { host: 'fe80::1', port: 5 });
  tt.match(parseEndpointUri('tcp://localhost', 61616), { host: 'localhost', port: 61616 });
  tt.equal(parseEndpointUri('tcp://h:65535').port, 65535);
  tt.strictSame({ ...parseEndpointUri('tcp://h:1?a=x%20y&b=c+d&&e=%3D').options }, { a: 'x y', b: 'c d', e: '=' });
  tt.strictSame({ ...parseEndpointUri('tcp://h:1?').options }, {});
  tt.equal(parseEndpointUri(' tcp://h:1 ').host, 'h', 'surrounding whitespace is trimmed');
});

t.test('parseEndpointUri errors quote the uri and say what is wrong', async (tt) => {
  const cases: [string, RegExp][] = [
    ['', /invalid URI "": the URI is empty/],
    ['tcp://a b:1', /"tcp:\/\/a b:1": the URI contains whitespace/],
    ['127.0.0.1:61616', /missing scheme/],
    ['amqp://h:5672', /"amqp:\/\/h:5672": unsupported scheme "amqp" \(expected tcp, ssl or stomp\)/],
    ['tcp:h:1', /expected "\/\/" after "tcp:"/],
    ['tcp://h:1#frag', /fragment/],
    ['tcp://h:1/path', /unexpected path "\/path"/],
    ['tcp://user@h:1', /user info/],
    ['tcp://[::1:1', /missing "\]"/],
    ['tcp://[zz]:1', /"zz" is not an IPv6 address/],
    ['tcp://[::1]x', /unexpected "x" after "\]"/],
    ['tcp://::1:1', /IPv6 address must be in brackets/],
    ['tcp://:1', /the host is missing/],
    ['tcp://999.1.1.1:1', /"999.1.1.1" is not a valid IPv4 address/],
    ['tcp://-bad-:1', /"-bad-" is not a valid host name/],
    ['tcp://h', /"tcp:\/\/h": the port is missing/],
    ['tcp://h:', /the port is missing after ":"/],
    ['tcp://h:abc', /port must be a number 0..65535, got "abc"/],
    ['tcp://x:99999', /invalid URI "tcp:\/\/x:99999": port must be 0..65535$/],
    ['tcp://h:1?flag', /option "flag" has no value/],
    ['tcp://h:1?=v', /option with an empty name/],
    ['tcp://h:1?a=1&a=2', /option "a" is given twice/],
    ['tcp://h:1?a=%zz', /bad percent-encoding in "%zz"/],
  ];
  for (const [uri, re] of cases) throwsUri(tt, () => parseEndpointUri(uri), re, uri);
  throwsUri(tt, () => parseEndpointUri(42 as unknown as string), /must be a string/);
});

t.test('uriErrorReason gives the reason without the uri', async (tt) => {
  let thrown: unknown = null;
  try {
    parseEndpointUri('tcp://x:99999');
  } catch (e) {
    thrown = e;
  }
  tt.ok(thrown instanceof Error, 'an out-of-range port throws');
  tt.equal(uriErrorReason(thrown), 'port must be 0..65535');
  tt.equal(uriErrorReason(new Error('plain')), 'plain');
  tt.equal(uriErrorReason('str'), 'str');
});

t.test('connectorOptions defaults and limits', async (tt) => {
  tt.strictSame({ ...connectorOptions(parseEndpointUri('tcp://h:1')) }, {
    maximumConnections: 1000,
    maxFrameSize: 104857600,
    maxInactivityDurationMs: 30000,
  });
  const u = parseEndpointUri(
    'tcp://h:1?maximumConnections=1&wireFormat.maxFrameSize=1024&wireFormat.maxInactivityDuration=0',
  );
  tt.strictSame({ ...connectorOptions(u) }, { maximumConnections: 1, maxFrameSize: 1024, maxInactivityDurationMs: 0 });
  tt.equal(connectorOptions(parseEndpointUri('tcp://h:1?wireFormat.maxFrameSize=4294967295')).maxFrameSize, 4294967295);
  const bad: [string, RegExp][] = [
    ['maximumConnections=0', /option maximumConnections must be an integer >= 1, got "0"/],
    ['maximumConnections=1e3', /maximumConnections must be an integer >= 1, got "1e3"/],
    ['wireFormat.maxFrameSize=1023', /wireFormat.maxFrameSize must be an integer 1024..4294967295, got "1023"/],
    ['wireFormat.maxFrameSize=4294967296', /maxFrameSize must be an integer 1024..4294967295/],
    ['wireFormat.maxInactivityDuration=-1', /maxInactivityDuration must be an integer number of ms 0..2147483647/],
    ['wireFormat.maxInactivityDuration=1.5', /maxInactivityDuration must be .*got "1.5"/],
    [
      'transport.closeAsync=false',
      /unknown option "transport.closeAsync" \(valid: maximumConnections, wireFormat.maxFrameSize, wireFormat.maxInactivityDuration\)/,
    ],
  ];
  for (const [q, re] of bad) throwsUri(tt, () => connectorOptions(parseEndpointUri(`tcp://h:1?${q}`)), re, q);
});

t.test('parseClientUri: single tcp means no reconnect', async (tt) => {
  const c = parseClientUri('tcp://127.0.0.1:61616?x=y');
  tt.equal(c.failover, false);
  tt.equal(c.endpoints.length, 1);
  tt.strictSame({ ...c.endpoints[0]!.options }, { x: 'y' });
  tt.strictSame(c.options, { ...DEFAULT_FAILOVER_OPTIONS, maxReconnectAttempts: 0, startupMaxReconnectAttempts: 0 });
  tt.equal(parseClientUri('tcp://localhost').endpoints[0]!.port, 61616, 'port defaults to 61616');
  throwsUri(tt, () => parseClientUri('amqp://h:1'), /unsupported scheme "amqp"/);
  throwsUri(tt, () => parseClientUri(null as unknown as string), /must be a string/);
});

t.test('parseClientUri: parenthesised failover with options', async (tt) => {
  const c = parseClientUri(
    'failover:(tcp://a:1,tcp://b?wireFormat.maxFrameSize=2048)?randomize=false&initialReconnectDelay=100' +
      '&maxReconnectDelay=5000&useExponentialBackOff=false&backOffMultiplier=1.5&maxReconnectAttempts=3' +
      '&startupMaxReconnectAttempts=0&timeout=2000&priorityBackup=true',
  );
  tt.equal(c.failover, true);
  tt.strictSame(
    c.endpoints.map((e) => [e.host, e.port, { ...e.options }]),
    [
      ['a', 1, {}],
      ['b', 61616, { 'wireFormat.maxFrameSize': '2048' }],
    ],
  );
  tt.strictSame(c.options, {
    randomize: false,
    initialReconnectDelayMs: 100,
    maxReconnectDelayMs: 5000,
    useExponentialBackOff: false,
    backOffMultiplier: 1.5,
    maxReconnectAttempts: 3,
    startupMaxReconnectAttempts: 0,
    timeoutMs: 2000,
    priorityBackup: true,
  });
  tt.strictSame(parseClientUri('failover:(tcp://a:1)').options, DEFAULT_FAILOVER_OPTIONS, 'defaults');
  tt.equal(parseClientUri('failover://(tcp://a:1)?reconnectDelayExponent=3').options.backOffMultiplier, 3, 'alias');
  tt.equal(parseClientUri('FAILOVER:( tcp://a:1 , tcp://b:2 )').endpoints.length, 2, 'spaces around entries');
});

t.test('parseClientUri: bare failover list', async (tt) => {
  const c = parseClientUri('failover:tcp://a:1,tcp://b:2?x=y');
  tt.equal(c.failover, true);
  tt.strictSame(c.endpoints.map((e) => `${e.host}:${e.port}`), ['a:1', 'b:2']);
  tt.strictSame({ ...c.endpoints[1]!.options }, { x: 'y' }, 'a trailing query belongs to the last entry');
  tt.strictSame(c.options, DEFAULT_FAILOVER_OPTIONS);
  throwsUri(
    tt,
    () => parseClientUri('failover:tcp://a:1,tcp://b:2?randomize=false'),
    /failover option "randomize" is on entry "tcp:\/\/b:2\?randomize=false"; write failover:\(...\)\?randomize=/,
  );
});

t.test('parseClientUri: failover errors name the offending part', async (tt) => {
  const cases: [string, RegExp][] = [
    ['failover:()', /empty URI list after "failover:"/],
    ['failover:', /empty URI list/],
    ['failover:(tcp://a:1,)', /empty entry 2 in the URI list/],
    ['failover:(tcp://a:1', /unbalanced parentheses \(1 "\(" but 0 "\)"\)/],
    ['failover:(tcp://a:1))', /unbalanced parentheses \(1 "\(" but 2 "\)"\)/],
    ['failover:(tcp://a:1)x', /unexpected "x" after "\)"/],
    ['failover:tcp://a:1,(tcp://b:2)', /"\(" must follow "failover:" directly/],
    ['failover:(failover:(tcp://a:1))', /nested composite "failover:\(tcp:\/\/a:1\)" is not supported/],
    ['failover:((tcp://a:1))', /nested parentheses in entry "\(tcp:\/\/a:1\)"/],
    ['failover:(tcp://a:1,tcp://b:99999)', /entry 2 "tcp:\/\/b:99999": port must be 0..65535/],
    ['failover:(tcp://a:1)?bogus=1', /unknown failover option "bogus" \(valid: randomize, initialReconnectDelay/],
    ['failover:(tcp://a:1)?randomize=yes', /option randomize must be true or false, got "yes"/],
    ['failover:(tcp://a:1)?priorityBackup=TRUE', /option priorityBackup must be true or false, got "TRUE"/],
    ['failover:(tcp://a:1)?initialReconnectDelay=-5', /initialReconnectDelay must be an integer 0..2147483647, got "-5"/],
    ['failover:(tcp://a:1)?maxReconnectDelay=soon', /maxReconnectDelay must be an integer/],
    ['failover:(tcp://a:1)?maxReconnectAttempts=-2', /maxReconnectAttempts must be an integer -1..2147483647/],
    ['failover:(tcp://a:1)?startupMaxReconnectAttempts=1.5', /startupMaxReconnectAttempts must be an integer/],
    ['failover:(tcp://a:1)?timeout=-2', /option timeout must be an integer -1../],
    ['failover:(tcp://a:1)?backOffMultiplier=0.5', /backOffMultiplier must be a number 1..1000, got "0.5"/],
    ['failover:(tcp://a:1)?backOffMultiplier=1e1', /backOffMultiplier must be a number/],
    [
      'failover:(tcp://a:1)?backOffMultiplier=2&reconnectDelayExponent=3',
      /options "backOffMultiplier" and "reconnectDelayExponent" set the same thing/,
    ],
    ['failover:(tcp://a:1)?randomize', /option "randomize" has no value/],
  ];
  for (const [uri, re] of cases) throwsUri(tt, () => parseClientUri(uri), re, uri);
});

t.test('parseNetworkUri: static', async (tt) => {
  const n = parseNetworkUri('static:(tcp://127.0.0.1:61617,tcp://127.0.0.1:61618)');
  tt.equal(n.kind, 'static');
  if (n.kind !== 'static') return;
  tt.strictSame(n.endpoints.map((e) => e.port), [61617, 61618]);
  tt.strictSame({ ...n.options }, {});
  const q = parseNetworkUri('static:(tcp://a:1)?maxReconnectDelay=1000');
  tt.strictSame(q.kind === 'static' && { ...q.options }, { maxReconnectDelay: '1000' }, 'query kept as options');
  const bare = parseNetworkUri('static:tcp://a:1,tcp://b');
  tt.strictSame(bare.kind === 'static' && bare.endpoints.map((e) => e.port), [1, 61616]);
  throwsUri(tt, () => parseNetworkUri('static:()'), /empty URI list after "static:"/);
  throwsUri(tt, () => parseNetworkUri('static:(tcp://a:1'), /unbalanced parentheses/);
  throwsUri(tt, () => parseNetworkUri('static:(static:(tcp://a:1))'), /nested composite/);
  throwsUri(tt, () => parseNetworkUri('static:(tcp://a:1,udp://b:2)'), /entry 2 "udp:\/\/b:2": unsupported scheme/);
});

t.test('parseNetworkUri: multicast and errors', async (tt) => {
  tt.strictSame(parseNetworkUri('multicast://default'), { kind: 'multicast', group: 'default', options: {} });
  const m = parseNetworkUri('MULTICAST://my-group/?timeToLive=1');
  tt.match(m, { kind: 'multicast', group: 'my-group', options: { timeToLive: '1' } });
  throwsUri(tt, () => parseNetworkUri('multicast://'), /the multicast group is missing/);
  throwsUri(tt, () => parseNetworkUri('multicast://239.255.2.3:6155'), /takes no address or port/);
  throwsUri(tt, () => parseNetworkUri('multicast://a b'), /invalid multicast group name "a b"/);
  throwsUri(tt, () => parseNetworkUri('tcp://a:1'), /"tcp:\/\/a:1": expected static:\(tcp:\/\/host:port,...\), masterslave:\(tcp:\/\/…,tcp:\/\/…\) or multicast/);
  throwsUri(tt, () => parseNetworkUri(undefined as unknown as string), /must be a string/);
});
