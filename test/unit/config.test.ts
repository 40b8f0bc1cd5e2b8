import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/errors.js';
import { defaultConfig, loadConfigFile, parseConfig, type ConfigOverrides } from '../../src/config/config.js';

const CWD = '/srv/ferry'; // nothing is written: parsing only resolves paths against it
const CONF = fileURLToPath(new URL('../../conf/', import.meta.url));
const parse = (xml: string, overrides?: ConfigOverrides) => parseConfig(xml, { cwd: CWD, overrides });
const messages = (xml: string) => parse(xml).warnings.map((w) => w.message);

/** Assert a ConfigError whose (single-line) message matches `re`. */
function throwsConfig(tt: Test, fn: () => unknown, re: RegExp, msg = String(re)): void {
  try {
    fn();
    tt.fail(`expected ConfigError matching ${re}`);
  } catch (e) {
    tt.type(e, ConfigError, msg);
    tt.equal((e as ConfigError).code, 'FERRY_CONFIG');
    tt.notMatch((e as Error).message, /\n/, 'one line');
    tt.match((e as Error).message, re, msg);
  }
}

t.test('defaults', async (tt) => {
  const { config, warnings } = parse('<broker/>');
  tt.strictSame(warnings, []);
  tt.equal(config.brokerName, 'localhost');
  tt.equal(config.dataDirectory, '/srv/ferry/data');
  tt.equal(config.persistent, true);
  tt.strictSame(config.store, { kind: 'levelDB', directory: '/srv/ferry/data/leveldb' });
  tt.equal(config.transportConnectors.length, 1);
  tt.match(config.transportConnectors[0], {
    name: 'openwire',
    uri: 'tcp://127.0.0.1:61616',
    endpoint: { scheme: 'tcp', host: '127.0.0.1', port: 61616 },
    options: { maximumConnections: 1000, maxFrameSize: 104857600, maxInactivityDurationMs: 30000 },
  });
  tt.notOk('discoveryUri' in config.transportConnectors[0]!);
  tt.strictSame(config.networkConnectors, []);
  tt.strictSame(config.webConsole, { enabled: true, host: '127.0.0.1', port: 8161 });
  tt.equal(config.maximumRedeliveries, 6);
  tt.equal(config.source, null);
  const d = defaultConfig().config;
  tt.equal(d.dataDirectory, resolve('data'), 'defaultConfig resolves against process.cwd()');
  tt.equal(d.source, null);
  tt.equal(defaultConfig({ brokerName: 'x' }).config.brokerName, 'x');
});

t.test('result is deeply frozen', async (tt) => {
  const { config } = parse('<broker><networkConnectors><networkConnector uri="static:(tcp://a:1)"/></networkConnectors></broker>');
  tt.ok(Object.isFrozen(config));
  tt.ok(Object.isFrozen(config.store));
  tt.ok(Object.isFrozen(config.webConsole));
  tt.ok(Object.isFrozen(config.transportConnectors));
  tt.ok(Object.isFrozen(config.transportConnectors[0]!.endpoint.options));
  tt.ok(Object.isFrozen(config.networkConnectors[0]!.network));
  tt.throws(() => {
    (config as { brokerName: string }).brokerName = 'x';
  });
});

t.test('network connector defaults and attributes', async (tt) => {
  const { config } = parse(`<broker><networkConnectors>
    <networkConnector uri="static:(tcp://127.0.0.1:61617)"/>
    <networkConnector name="n2" uri="multicast://default" duplex="true" networkTTL="3" conduitSubscriptions="false"
      dynamicOnly="true" decreaseNetworkConsumerPriority="false" prefetchSize="10"/>
  </networkConnectors></broker>`);
  tt.match(config.networkConnectors[0], {
    name: 'bridge', uri: 'static:(tcp://127.0.0.1:61617)', duplex: false, networkTTL: 1, conduitSubscriptions: true,
    dynamicOnly: false, decreaseNetworkConsumerPriority: true, prefetchSize: 1000, network: { kind: 'static' },
  });
  tt.match(config.networkConnectors[1], {
    name: 'n2', duplex: true, networkTTL: 3, conduitSubscriptions: false, dynamicOnly: true,
    decreaseNetworkConsumerPriority: false, prefetchSize: 10, network: { kind: 'multicast', group: 'default' },
  });
});

t.test('broker attributes, store, console, placeholders', async (tt) => {
  const { config, warnings } = parse(`<broker xmlns="http://activemq.apache.org/schema/core" xmlns:xsi="x"
      xsi:schemaLocation="y" brokerName="b1" dataDirectory="\${activemq.data}" maximumRedeliveries="-1">
    <persistenceAdapter><kahaDB directory="\${activemq.data}/kahadb"/></persistenceAdapter>
    <webConsole host="::1" port="0" enabled="false"/>
  </broker>`);
  tt.strictSame(warnings, [], 'namespace attributes and kahaDB are silent');
  tt.equal(config.brokerName, 'b1');
  tt.equal(config.dataDirectory, '/srv/ferry/data');
  tt.strictSame(config.store, { kind: 'levelDB', directory: '/srv/ferry/data/kahadb' });
  tt.strictSame(config.webConsole, { enabled: false, host: '::1', port: 0 });
  tt.equal(config.maximumRedeliveries, -1);
  const rel = parse('<broker dataDirectory="var/d"><persistenceAdapter><levelDB/></persistenceAdapter></broker>');
  tt.equal(rel.config.dataDirectory, '/srv/ferry/var/d');
  tt.equal(rel.config.store.directory, '/srv/ferry/var/d/leveldb');
  tt.equal(parse('<broker dataDirectory="/abs"/>').config.dataDirectory, '/abs');
  const mem = parse('<broker persistent="false"><persistenceAdapter><levelDB directory="x"/></persistenceAdapter></broker>');
  tt.equal(mem.config.persistent, false);
  tt.equal(mem.config.store.kind, 'memory');
  tt.match(mem.warnings[0]!.message, /<broker><persistenceAdapter> is ignored because persistent="false"/);
  const disc = parse('<broker><transportConnectors><transportConnector uri="tcp://h:0" discoveryUri="multicast://default"/></transportConnectors></broker>');
  tt.match(disc.config.transportConnectors[0], { name: 'tcp://h:0', discoveryUri: 'multicast://default' }, 'name defaults to the uri');
});

t.test('webConsole credentials: both or neither', async (tt) => {
  const { config } = parse('<broker><webConsole user="ops" password="s3cret"/></broker>');
  tt.strictSame(config.webConsole, { enabled: true, host: '127.0.0.1', port: 8161, user: 'ops', password: 's3cret' });
  throwsConfig(tt, () => parse('<broker><webConsole user="ops"/></broker>'), /<broker><webConsole>: user without password: set both, or neither/);
  throwsConfig(tt, () => parse('<broker><webConsole password="x"/></broker>'), /<broker><webConsole>: password without user/);
  throwsConfig(tt, () => parse('<broker><webConsole user="ops" password=""/></broker>'), /password="": must not be empty/);
});

t.test('overrides apply after the file', async (tt) => {
  const xml = '<broker brokerName="f" dataDirectory="d"><webConsole port="9000"/></broker>';
  const { config } = parse(xml, {
    brokerName: 'o', dataDirectory: 'od', transports: ['tcp://127.0.0.1:7000', 'stomp://127.0.0.1:7001?maximumConnections=5'],
    consolePort: 9100, console: false, persistent: false,
  });
  tt.equal(config.brokerName, 'o');
  tt.equal(config.dataDirectory, '/srv/ferry/od');
  tt.strictSame(config.store, { kind: 'memory', directory: '/srv/ferry/od/leveldb' }, 'default store dir follows dataDirectory');
  tt.strictSame(config.transportConnectors.map((c) => [c.name, c.endpoint.port, c.options.maximumConnections]), [
    ['cli0', 7000, 1000], ['cli1', 7001, 5],
  ]);
  tt.strictSame(config.webConsole, { enabled: false, host: '127.0.0.1', port: 9100 });
  tt.equal(parse('<broker persistent="false"/>', { persistent: true }).config.store.kind, 'levelDB');
  const bad: [ConfigOverrides, RegExp][] = [
    [{ transports: ['tcp://x:99999'] }, /^<overrides>: transports\[0\]="tcp:\/\/x:99999": port must be 0..65535$/],
    [{ transports: ['tcp://a:1', 'tcp://a:1'] }, /<transportConnector name="cli1">: listens on a:1 like connector "cli0"/],
    [{ consolePort: 70000 }, /^<overrides>: consolePort=70000: must be an integer 0..65535$/],
    [{ consolePort: 1.5 }, /consolePort=1.5/],
    [{ brokerName: ' ' }, /^<overrides>: brokerName=" ": empty$/],
    [{ dataDirectory: '' }, /^<overrides>: dataDirectory="": empty$/],
  ];
  for (const [o, re] of bad) throwsConfig(tt, () => parse('<broker/>', o), re);
});

t.test('errors name file, element, attribute, value and reason', async (tt) => {
  const tc = (attrs: string) => `<broker><transportConnectors><transportConnector ${attrs}/></transportConnectors></broker>`;
  const nc = (attrs: string) => `<broker><networkConnectors><networkConnector ${attrs}/></networkConnectors></broker>`;
  const TC = '<broker><transportConnectors><transportConnector>';
  const NC = '<broker><networkConnectors><networkConnector>';
  throwsConfig(tt, () => parseConfig(tc('uri="tcp://x:99999"'), { file: 'conf/a.xml' }),
    /^conf\/a\.xml: <broker><transportConnectors><transportConnector> attribute uri="tcp:\/\/x:99999": port must be 0\.\.65535$/);
  const cases: [string, RegExp][] = [
    [tc('uri="tcp://x:99999"'), /^<config>: <broker><transportConnectors><transportConnector> attribute uri=/],
    [tc('name="a"'), new RegExp(`^<config>: ${TC}: attribute uri is required`)],
    [tc('uri="foo://h:5672"'), /uri="foo:\/\/h:5672": unsupported scheme "foo" \(expected tcp, nio, stomp, stomp\+nio, auto or auto\+nio\)/],
    [tc('uri="tcp://h:1?foo=1"'), /uri="tcp:\/\/h:1\?foo=1": unknown option "foo" \(valid: maximumConnections/],
    [tc('uri="auto://h:1?protocolDetectionTimeOut=0"'), /option protocolDetectionTimeOut must be an integer number of ms >= 1, got "0"/],
    [tc('uri="nio://h:1?wireFormat.maxFrameSize=1"'), /option wireFormat.maxFrameSize must be an integer 1024/],
    [tc('uri="tcp://h:1?maximumConnections=0"'), /option maximumConnections must be an integer >= 1, got "0"/],
    [tc('uri="tcp://h:1" discoveryUri="static:(tcp://a:1)"'), /attribute discoveryUri="static:\(tcp:\/\/a:1\)": discoveryUri must be multicast/],
    [tc('uri="tcp://h:1" name=""'), /attribute name="": must not be empty/],
    [tc('uri="${env.URI}"'), /attribute uri="\$\{env.URI\}": cannot resolve \$\{env.URI\}: no such property in the PropertyPlaceholderConfigurer locations nor in the environment$/],
    [tc('uri="${open"'), /cannot resolve \$\{open: the placeholder has no closing "\}"/],
    [nc('name="n"'), new RegExp(`^<config>: ${NC}: attribute uri is required`)],
    [nc('uri="failover:(tcp://a:1)"'), /uri="failover:\(tcp:\/\/a:1\)": expected static:/],
    [nc('uri="static:(tcp://a:1" '), /unbalanced parentheses/],
    [nc('uri="multicast://default" duplex="yes"'), new RegExp(`${NC} attribute duplex="yes": must be true or false$`)],
    [nc('uri="multicast://default" networkTTL="0"'), /attribute networkTTL="0": must be an integer 1..255$/],
    [nc('uri="multicast://default" prefetchSize="many"'), /attribute prefetchSize="many": must be an integer 1..2147483647/],
    ['<broker persistent="False"/>', /^<config>: <broker> attribute persistent="False": must be true or false$/],
    ['<broker maximumRedeliveries="-2"/>', /<broker> attribute maximumRedeliveries="-2": must be an integer -1..2147483647/],
    ['<broker brokerName=""/>', /<broker> attribute brokerName="": must not be empty/],
    ['<broker dataDirectory="${activemq.home}/x"/>', /<broker> attribute dataDirectory="\$\{activemq.home\}\/x": cannot resolve \$\{activemq.home\}: start with --base DIR, set ACTIVEMQ_BASE/],
    ['<broker dataDirectory="${activemq.base}/other"/>', /cannot resolve \$\{activemq.base\}/],
    ['<broker><persistenceAdapter><kahaDB directory="${activemq.conf}/x"/></persistenceAdapter></broker>', /cannot resolve \$\{activemq.conf\}: .*or set ACTIVEMQ_CONF$/],
    ['<broker dataDirectory="C:\\activemq\\data"/>', /<broker> attribute dataDirectory="C:\\\\activemq\\\\data": a Windows path cannot be used/],
    ['<broker><webConsole port="70000"/></broker>', /<broker><webConsole> attribute port="70000": must be an integer 0..65535/],
    ['<broker><webConsole host="a b"/></broker>', /<broker><webConsole> attribute host="a b": not a host name or IP/],
    ['<broker><webConsole/><webConsole/></broker>', /<broker><webConsole>: may appear only once/],
    ['<broker><persistenceAdapter/><persistenceAdapter/></broker>', /<broker><persistenceAdapter>: may appear only once/],
    ['<broker><persistenceAdapter><levelDB/><kahaDB/></persistenceAdapter></broker>', /<persistenceAdapter><kahaDB>: only one store/],
    ['<broker><persistenceAdapter><levelDB directory=""/></persistenceAdapter></broker>', /<levelDB> attribute directory="": must not be empty/],
    [tc('name="a" uri="tcp://h:1"/><transportConnector name="a" uri="tcp://h:2"'), /<transportConnector>: duplicate name "a"/],
    [tc('name="a" uri="tcp://h:1"/><transportConnector name="b" uri="tcp://h:1"'), /name="b">: listens on h:1 like connector "a"/],
    [nc('uri="multicast://default"/><networkConnector uri="static:(tcp://a:1)"'), /duplicate name "bridge" \(default is "bridge"; give each a distinct name\)/],
    ['<broker/><broker/>', /^<config>: <broker>: only one <broker> is allowed$/],
    ['<beans><broker/><broker/></beans>', /<beans>: must contain exactly one <broker>, found 2/],
    ['<beans><bean id="x"/></beans>', /^<config>: <beans>: has no <broker>: this file holds only Spring beans \(jetty.xml-like\); start the activemq.xml that imports it$/],
    ['<beans><camelContext/></beans>', /<beans>: has no <broker>: this file holds Camel routes/],
    ['<activemq/>', /^<config>: root: expected one <broker> or <beans> root element, found <activemq>; a broker configuration is an activemq.xml$/],
    ['<broker/><beans/>', /found <broker>, <beans>/],
    ['<?xml version="1.0"?><!-- nothing -->', /^<config>: malformed XML at line 1: Start tag expected/],
    ['', /^<config>: malformed XML at line 1: Start tag expected\.$/],
    ['<broker>\n  <transportConnectors>\n</broker>', /^<config>: malformed XML at line 3, column 1: Expected closing tag 'transportConnectors'/],
    ['<broker a="1" a="2"/>', /malformed XML at line 1, column \d+: Attribute 'a' is repeated/],
  ];
  for (const [xml, re] of cases) throwsConfig(tt, () => parse(xml), re, xml);
  throwsConfig(tt, () => parseConfig(42 as unknown as string), /XML text must be a string/);
});

t.test('warnings for ignored and unknown elements', async (tt) => {
  const w = messages(`<broker useJmx="false">
    <managementContext/><plugins/><destinationInterceptors/>
    <shutdownHooks/>
    <transportConnectors><transportConnector uri="tcp://h:1" enableStatusMonitor="true"/><foo/></transportConnectors>
    <networkConnectors><bar/><networkConnector uri="multicast://default" bridgeTempDestinations="true">
      <excludedDestinations/></networkConnector></networkConnectors>
    <persistenceAdapter><jdbcPersistenceAdapter/></persistenceAdapter>
    <webConsole path="/admin"/>
    <bean class="org.example.Other"/>
  </broker>`);
  tt.strictSame(w, [
    '<broker> attribute useJmx is not supported by ferrymq; ignored',
    '<broker><managementContext> is ignored: ferrymq has no JMX; see ferrymq dstat',
    '<broker><destinationInterceptors> is ignored: ferrymq does not support it',
    '<broker><shutdownHooks> is ignored: ferrymq stops cleanly on SIGTERM and SIGINT by itself',
    '<broker><transportConnectors><transportConnector> attribute enableStatusMonitor is not supported by ferrymq; ignored',
    '<broker><transportConnectors><foo> is not a known element; ignored',
    '<broker><networkConnectors><bar> is not a known element; ignored',
    '<broker><networkConnectors><networkConnector> attribute bridgeTempDestinations is not supported by ferrymq; ignored',
    '<broker><persistenceAdapter><jdbcPersistenceAdapter> is not supported by ferrymq; ignored (the store is levelDB)',
    '<broker><webConsole> attribute path is not supported by ferrymq; ignored',
    '<broker><bean> is not a known element; ignored',
  ]);
  const r = parseConfig('<broker><foo/></broker>', { file: 'f.xml', cwd: CWD });
  tt.strictSame(r.warnings, [{ file: 'f.xml', message: '<broker><foo> is not a known element; ignored' }]);
  tt.strictSame(messages('<beans xmlns="x"><bean id="a" class="org.example.A"/><broker/></beans>'),
    ['<beans><bean> id="a" (org.example.A) is ignored: ferrymq reads only PropertyPlaceholderConfigurer and WebConsolePort beans']);
  tt.strictSame(messages(`<broker><plugins><jaasAuthenticationPlugin configuration="activemq"/><statisticsBrokerPlugin/></plugins></broker>`), [
    '<broker><plugins><jaasAuthenticationPlugin> is ignored: ferrymq authenticates with <simpleAuthenticationPlugin> only; without it every client is let in',
    '<broker><plugins><statisticsBrokerPlugin> is ignored: ferrymq does not support broker plugins',
  ], 'one warning per plugin; a security plugin says that clients are not checked');
  tt.strictSame(messages(`<broker><destinationPolicy><policyMap><policyEntries>
    <policyEntry queue="a" producerFlowControl="true"/><policyEntry queue="b" producerFlowControl="true"/>
    </policyEntries></policyMap></destinationPolicy></broker>`).length, 1, 'the same warning twice is said once');
});

// The tutorial's snippets, verbatim, wrapped in a <broker> (the tutorial binds 0.0.0.0; nothing is bound here).
const TUTORIAL_STATIC = `
            <networkConnections>
                <networkConnection uri="static:(tcp://127.0.0.1:61617,tcp://127.0.0.1:61618)"/> 
            </networkConnection>`;
const TUTORIAL_DYNAMIC = `
            <!-- 网络连接器 -->
            <networkConnectors>
                <networkConnector uri="multicast://default" /> 
            </networkConnectors>
            <!-- 传输连接器 -->
            <transportConnectors>
                <transportConnector uri="tcp://localhost:0" discoveryUri="multicast://default" />
            </transportConnectors>`;
const TUTORIAL_A = `
<!-- 配置网络连接器 -->
<networkConnectors>
    <networkConnector name="local_network" uri="static:(tcp://127.0.0.1:61617,tcp://127.0.0.1:61618)" /> 
</networkConnectors>`;
const tutorialNode = (port: number) => `
<!-- activemq.xml文件 -->
<!-- 配置数据存储位置 -->
<persistenceAdapter>
    <kahaDB directory="D://Program Files/activemq/kahadb"/>
</persistenceAdapter>
<!-- 配置服务提供地址 -->
<transportConnectors>
    <transportConnector name="openwire" uri="tcp://0.0.0.0:${port}?maximumConnections=1000&amp;wireFormat.maxFrameSize=104857600"/>
</transportConnectors>
<!-- 配置网络连接器 -->
<networkConnectors>
    <networkConnector name="network_a" uri="static:(tcp://127.0.0.1:61616)" /> 
</networkConnectors>`;
const tutorialJetty = (port: number) => `
<!-- jetty.xml文件，配置后台管理地址端口 -->
<bean id="jettyPort" class="org.apache.activemq.web.WebConsolePort" init-method="start">
    <property name="host" value="0.0.0.0"/>
    <property name="port" value="${port}"/>
</bean>`;

t.test('tutorial: static network connector (misspelt, mismatched tags)', async (tt) => {
  const { config, warnings } = parse(`<broker>${TUTORIAL_STATIC}\n</broker>`);
  tt.equal(config.networkConnectors.length, 1);
  tt.match(config.networkConnectors[0], { name: 'bridge', network: { kind: 'static', endpoints: [{ port: 61617 }, { port: 61618 }] } });
  tt.strictSame(warnings.map((w) => w.message), [
    'line 4: </networkConnection> closes <networkConnections>; read as </networkConnections>',
    '<broker><networkConnections> is read as <networkConnectors> (misspelt in the tutorial)',
    '<broker><networkConnections><networkConnection> is read as <networkConnector>',
  ]);
});

t.test('tutorial: dynamic (multicast) connectors', async (tt) => {
  const { config, warnings } = parse(`<broker>${TUTORIAL_DYNAMIC}</broker>`);
  tt.strictSame(warnings, []);
  tt.match(config.networkConnectors[0], { name: 'bridge', network: { kind: 'multicast', group: 'default' } });
  tt.match(config.transportConnectors[0], { name: 'tcp://localhost:0', endpoint: { host: 'localhost', port: 0 }, discoveryUri: 'multicast://default' });
});

t.test('tutorial: node A', async (tt) => {
  const { config, warnings } = parse(`<broker>${TUTORIAL_A}</broker>`);
  tt.strictSame(warnings, []);
  tt.match(config.networkConnectors, [{ name: 'local_network', network: { endpoints: [{ port: 61617 }, { port: 61618 }] } }]);
});

t.test('tutorial: nodes B and C, with their jetty.xml beans', async (tt) => {
  for (const port of [61617, 61618]) {
    // As the user fixes it after the error below: the Windows path replaced by ActiveMQ's placeholder.
    const fixed = tutorialNode(port).replace('D://Program Files/activemq/kahadb', '${activemq.data}/kahadb');
    const { config, warnings } = parse(`<broker>${fixed}</broker>`);
    tt.match(config.transportConnectors, [{ name: 'openwire', endpoint: { host: '0.0.0.0', port }, options: { maximumConnections: 1000, maxFrameSize: 104857600 } }]);
    tt.match(config.networkConnectors, [{ name: 'network_a', network: { endpoints: [{ host: '127.0.0.1', port: 61616 }] } }]);
    tt.strictSame(config.store, { kind: 'levelDB', directory: '/srv/ferry/data/kahadb' });
    tt.strictSame(warnings, []);
  }
  if (process.platform !== 'win32') {
    throwsConfig(tt, () => parse(`<broker>${tutorialNode(61617)}</broker>`),
      /^<config>: <broker><persistenceAdapter><kahaDB> attribute directory="D:\/\/Program Files\/activemq\/kahadb": a Windows path cannot be used on linux; give a path such as \/var\/lib\/ferrymq\/kahadb or \$\{activemq.data\}\/kahadb$/);
  }
  for (const port of [8162, 8163]) {
    const { config, warnings } = parse(`<beans><broker/>${tutorialJetty(port)}</beans>`);
    tt.strictSame(config.webConsole, { enabled: true, host: '0.0.0.0', port }, 'the jetty.xml bean sets the console');
    tt.strictSame(warnings, []);
    const both = parse(`<beans><broker><webConsole port="9000"/></broker>${tutorialJetty(port)}</beans>`);
    tt.equal(both.config.webConsole.port, 9000, '<webConsole> in the broker wins');
    tt.match(both.warnings[0]!.message, /WebConsolePort\): the web console address is set by <webConsole> in <broker>; the bean is ignored$/);
  }
});

t.test('conf/*.xml', async (tt) => {
  const load = (f: string) => loadConfigFile(join(CONF, f), undefined, { cwd: CWD });
  const single = load('single.xml');
  tt.strictSame(single.warnings, []);
  tt.equal(single.config.source, join(CONF, 'single.xml'));
  tt.match(single.config, {
    brokerName: 'localhost', dataDirectory: '/srv/ferry/data', store: { kind: 'levelDB', directory: '/srv/ferry/data/leveldb' },
    transportConnectors: [
      { name: 'openwire', endpoint: { scheme: 'tcp', host: '127.0.0.1', port: 61616 }, options: { maximumConnections: 1000, maxFrameSize: 104857600 } },
      { name: 'stomp', endpoint: { scheme: 'stomp', host: '127.0.0.1', port: 61613 }, options: { maximumConnections: 1000, maxFrameSize: 104857600 } },
    ],
    networkConnectors: [], webConsole: { enabled: true, host: '127.0.0.1', port: 8161 },
  });
  tt.equal(single.config.transportConnectors.length, 2, 'native and STOMP connectors');
  const nodes: [string, number, number, string, number[]][] = [
    ['node-a', 61616, 8161, 'local_network', [61617, 61618]],
    ['node-b', 61617, 8162, 'network_a', [61616]],
    ['node-c', 61618, 8163, 'network_a', [61616]],
  ];
  for (const [name, port, console, bridge, peers] of nodes) {
    const { config, warnings } = load(`${name}.xml`);
    tt.strictSame(warnings, [], name);
    tt.equal(config.brokerName, name);
    tt.equal(config.dataDirectory, `/srv/ferry/data/${name}`);
    tt.match(config.store.directory, new RegExp(`^/srv/ferry/data/${name}`));
    tt.strictSame(config.transportConnectors.map((c) => [c.endpoint.host, c.endpoint.port]), [['127.0.0.1', port]]);
    tt.strictSame(config.webConsole, { enabled: true, host: '127.0.0.1', port: console, user: 'admin', password: 'admin' });
    tt.equal(config.networkConnectors[0]!.name, bridge);
    const net = config.networkConnectors[0]!.network;
    tt.strictSame(net.kind === 'static' && net.endpoints.map((e) => [e.host, e.port]), peers.map((p) => ['127.0.0.1', p]));
  }
  tt.equal(load('node-b.xml').config.store.directory, '/srv/ferry/data/node-b', 'kahaDB directory kept');
  const secure = load('activemq-security.xml');
  tt.strictSame(secure.warnings, [], 'activemq-security.xml');
  tt.match(secure.config.security.authentication, { anonymousAccessAllowed: false, users: [{ username: 'system', groups: ['users', 'admins'] }] });
  tt.match(secure.config.security.authentication!.users[0]!.password, /^scrypt:16384:8:1:/, 'its passwords are hashed');
  tt.equal(secure.config.security.authorization!.entries.length, 8);
});

t.test('loadConfigFile reads files and reports unreadable ones', async (tt) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-config-'));
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'b.xml');
  writeFileSync(f, '<broker brokerName="fromfile"><transportConnectors><transportConnector uri="tcp://x:99999"/></transportConnectors></broker>');
  throwsConfig(tt, () => loadConfigFile(f), new RegExp(`^${f}: <broker><transportConnectors><transportConnector> attribute uri="tcp://x:99999": port must be 0..65535$`));
  writeFileSync(f, '<broker brokerName="fromfile"/>');
  const r = loadConfigFile(f, { brokerName: 'over' });
  tt.equal(r.config.brokerName, 'over');
  tt.equal(r.config.source, f);
  tt.equal(r.config.dataDirectory, resolve('data'), 'relative to process.cwd() by default');
  throwsConfig(tt, () => loadConfigFile(join(dir, 'missing.xml')), /missing\.xml: cannot read config file: no such file$/);
  throwsConfig(tt, () => loadConfigFile(dir), /cannot read config file: is a directory$/);
});

t.test('systemUsage: memory and store limits and sendFailIfNoSpaceAfterTimeout in ActiveMQ vocabulary', async (tt) => {
  const { config, warnings } = parseConfig(`<broker><systemUsage><systemUsage sendFailIfNoSpaceAfterTimeout="3000">
    <memoryUsage><memoryUsage limit="64 mb"/></memoryUsage>
    <storeUsage><storeUsage limit="1 gb"/></storeUsage>
  </systemUsage></systemUsage></broker>`);
  tt.equal(config.systemUsage.memoryLimitBytes, 64 * 1024 * 1024);
  tt.equal(config.systemUsage.sendFailIfNoSpaceAfterTimeoutMs, 3000);
  tt.equal(config.systemUsage.storeLimitBytes, 1024 ** 3);
  tt.equal(warnings.length, 0, 'storeUsage is understood, not warned about');
  const d = parseConfig('<broker/>').config.systemUsage;
  tt.same(d, { memoryLimitBytes: 128 * 1024 * 1024, sendFailIfNoSpaceAfterTimeoutMs: -1, storeLimitBytes: 100 * 1024 ** 3 }, 'defaults');
  tt.throws(
    () => parseConfig('<broker><systemUsage><systemUsage><storeUsage><storeUsage limit="10 kb"/></storeUsage></systemUsage></systemUsage></broker>'),
    /<storeUsage><storeUsage> attribute limit="10 kb": must be a size of at least 1 mb/,
  );
  tt.throws(
    () => parseConfig('<broker><systemUsage><systemUsage><memoryUsage><memoryUsage limit="lots"/></memoryUsage></systemUsage></systemUsage></broker>'),
    /<broker><systemUsage><systemUsage><memoryUsage><memoryUsage> attribute limit="lots": must be a size/,
  );
});

t.test('destinationPolicy: policy entries in ActiveMQ vocabulary', async (tt) => {
  const { config, warnings } = parseConfig(`<broker><destinationPolicy><policyMap><policyEntries>
    <policyEntry queue="ORDERS.>" memoryLimit="2 mb" maximumRedeliveries="2" redeliveryDelay="250" producerFlowControl="true">
      <deadLetterStrategy><individualDeadLetterStrategy queuePrefix="DLQ." useQueueForQueueMessages="true"/></deadLetterStrategy>
    </policyEntry>
    <policyEntry topic="PRICES.*"><deadLetterStrategy><sharedDeadLetterStrategy deadLetterQueue="PRICES.DLQ"/></deadLetterStrategy></policyEntry>
    <policyEntry queue=">"/>
  </policyEntries></policyMap></destinationPolicy></broker>`);
  tt.same(config.policies, [
    {
      kind: 'queue',
      pattern: 'ORDERS.>',
      memoryLimitBytes: 2 * 1024 * 1024,
      maximumRedeliveries: 2,
      redeliveryDelayMs: 250,
      deadLetterStrategy: { kind: 'individual', queuePrefix: 'DLQ.', topicPrefix: 'ActiveMQ.DLQ.Topic.', useQueueForQueueMessages: true },
    },
    { kind: 'topic', pattern: 'PRICES.*', deadLetterStrategy: { kind: 'shared', queue: 'PRICES.DLQ' } },
    { kind: 'queue', pattern: '>' },
  ]);
  tt.same(
    warnings.map((w) => w.message),
    ['<broker><destinationPolicy><policyMap><policyEntries><policyEntry> attribute producerFlowControl is not supported by ferrymq; ignored'],
  );
  const bad = (xml: string, re: RegExp): void => {
    tt.throws(() => parseConfig(`<broker><destinationPolicy><policyMap><policyEntries>${xml}</policyEntries></policyMap></destinationPolicy></broker>`), re, xml);
  };
  bad('<policyEntry/>', /needs exactly one of the attributes queue and topic/);
  bad('<policyEntry queue="a" topic="b"/>', /needs exactly one of the attributes queue and topic/);
  bad('<policyEntry queue="a" memoryLimit="lots"/>', /<policyEntry> attribute memoryLimit="lots": must be a size of at least 64 kb/);
  bad('<policyEntry queue="a" maximumRedeliveries="-5"/>', /attribute maximumRedeliveries="-5": must be an integer -1\.\.2147483647/);
  bad('<policyEntry queue="a" redeliveryDelay="soon"/>', /attribute redeliveryDelay="soon"/);
  bad('<policyEntry queue="a"><deadLetterStrategy><sharedDeadLetterStrategy deadLetterQueue="X.>"/></deadLetterStrategy></policyEntry>', /must not be a wildcard/);
});

t.test('network connectors: attributes, URI options, destination lists, reconnect settings', async (tt) => {
  const { config } = parse(`<broker><networkConnectors>
    <networkConnector name="n1" uri="static:(tcp://127.0.0.1:61617,tcp://127.0.0.1:61618)?initialReconnectDelay=50&amp;maxReconnectDelay=2000&amp;networkTTL=3"
        prefetchSize="200" decreaseNetworkConsumerPriority="false">
      <excludedDestinations><queue physicalName="secret.>"/><topic physicalName="ActiveMQ.>"/></excludedDestinations>
      <dynamicallyIncludedDestinations><queue physicalName="orders.*"/></dynamicallyIncludedDestinations>
      <staticallyIncludedDestinations><topic physicalName="prices"/></staticallyIncludedDestinations>
    </networkConnector>
    <networkConnector name="n2" uri="masterslave:(tcp://127.0.0.1:1,tcp://127.0.0.1:2)" networkTTL="2"/>
  </networkConnectors></broker>`);
  const [n1, n2] = config.networkConnectors;
  tt.match(n1, {
    name: 'n1',
    networkTTL: 3,
    prefetchSize: 200,
    decreaseNetworkConsumerPriority: false,
    excludedDestinations: [{ dest: 'queue://secret.>' }, { dest: 'topic://ActiveMQ.>' }],
    dynamicallyIncludedDestinations: [{ dest: 'queue://orders.*' }],
    staticallyIncludedDestinations: [{ dest: 'topic://prices' }],
    reconnect: { initialReconnectDelayMs: 50, maxReconnectDelayMs: 2000, useExponentialBackOff: true, backOffMultiplier: 2 },
  });
  tt.equal(n1!.network.kind, 'static');
  tt.match(n2, { name: 'n2', networkTTL: 2, network: { kind: 'masterslave' }, reconnect: { initialReconnectDelayMs: 1000, maxReconnectDelayMs: 30000 } });
  // The element's attribute wins over the same option on its URI.
  const both = parse(`<broker><networkConnectors><networkConnector uri="static:(tcp://127.0.0.1:1)?networkTTL=3" networkTTL="2"/></networkConnectors></broker>`);
  tt.equal(both.config.networkConnectors[0]!.networkTTL, 2);
});

t.test('network connectors: bad values name the element, attribute and value', async (tt) => {
  throwsConfig(
    tt,
    () => parse(`<broker><networkConnectors><networkConnector uri="static:(tcp://127.0.0.1:1)?retries=3"/></networkConnectors></broker>`),
    /<networkConnector>.*uri.*unknown option retries/,
  );
  throwsConfig(
    tt,
    () => parse(`<broker><networkConnectors><networkConnector uri="static:(tcp://127.0.0.1:1)?networkTTL=0"/></networkConnectors></broker>`),
    /networkTTL.*"0".*1\.\.255/,
  );
  throwsConfig(
    tt,
    () => parse(`<broker><networkConnectors><networkConnector uri="static:(tcp://127.0.0.1:1)"><excludedDestinations><queue/></excludedDestinations></networkConnector></networkConnectors></broker>`),
    /physicalName is required/,
  );
  throwsConfig(
    tt,
    () => parse(`<broker><networkConnectors><networkConnector uri="static:(tcp://127.0.0.1:1)"><excludedDestinations><dest physicalName="x"/></excludedDestinations></networkConnector></networkConnectors></broker>`),
    /expected <queue physicalName/,
  );
});

t.test('--network URIs replace the file\'s network connectors, options read as attributes', async (tt) => {
  const { config } = parse(
    `<broker><networkConnectors><networkConnector uri="static:(tcp://127.0.0.1:9)"/></networkConnectors></broker>`,
    { networks: ['static:(tcp://127.0.0.1:61617)?networkTTL=2&duplex=true', 'masterslave:(tcp://127.0.0.1:1,tcp://127.0.0.1:2)'] },
  );
  tt.equal(config.networkConnectors.length, 2);
  tt.match(config.networkConnectors[0], { name: 'cli-network0', networkTTL: 2, duplex: true, network: { kind: 'static' } });
  tt.match(config.networkConnectors[1], { name: 'cli-network1', network: { kind: 'masterslave' } });
  throwsConfig(tt, () => parse('<broker/>', { networks: ['tcp://127.0.0.1:1'] }), /--network\[0\].*expected static:/);
});
