// What a real activemq.xml carries beyond the tutorial's snippets: placeholders, Spring beans and imports, and the
// transport schemes ActiveMQ serves.
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { loadConfigFile, parseConfig } from '../../src/config/config.js';
import { parseProperties } from '../../src/config/placeholders.js';

function throwsConfig(tt: Test, fn: () => unknown, re: RegExp): void {
  try {
    fn();
    tt.fail(`expected ConfigError matching ${re}`);
  } catch (e) {
    tt.type(e, ConfigError);
    tt.notMatch((e as Error).message, /\n/, 'one line');
    tt.match((e as Error).message, re);
  }
}

/** An ActiveMQ-like layout: DIR/conf/<files>, returned as DIR. */
function layout(t: Test, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-amq-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'conf'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'conf', name), text);
  return dir;
}

const CONFIGURER = `<bean class="org.springframework.beans.factory.config.PropertyPlaceholderConfigurer">
  <property name="locations"><value>file:\${activemq.conf}/credentials.properties</value></property>
</bean>`;

t.test('${activemq.*}: from the conf/ directory, --base, or the environment; unresolvable is one line naming it', async (t) => {
  const xml = `<beans>${CONFIGURER}<broker brokerName="\${broker.name}" dataDirectory="\${activemq.data}">
    <persistenceAdapter><kahaDB directory="\${activemq.base}/store/\${activemq.home:x}"/></persistenceAdapter>
  </broker></beans>`;
  const dir = layout(t, { 'activemq.xml': xml, 'credentials.properties': '# comment\nbroker.name = from-props\n' });
  const file = join(dir, 'conf', 'activemq.xml');
  const fromLayout = loadConfigFile(file, undefined, { cwd: '/elsewhere' });
  t.equal(fromLayout.config.brokerName, 'from-props', 'a property from the configurer\'s locations');
  t.equal(fromLayout.config.dataDirectory, join(dir, 'data'), 'activemq.data = base/data, base = the parent of conf/');
  t.equal(fromLayout.config.store.directory, join(dir, 'store', dir), 'activemq.home defaults to the base');
  t.strictSame(fromLayout.warnings, []);

  const other = layout(t, { 'credentials.properties': 'broker.name=other\n' });
  const byFlag = loadConfigFile(file, undefined, { base: other });
  t.equal(byFlag.config.brokerName, 'other', '--base moves activemq.conf too');
  t.equal(byFlag.config.dataDirectory, join(other, 'data'));
  const byEnv = loadConfigFile(file, undefined, { env: { ACTIVEMQ_BASE: other, ACTIVEMQ_DATA: '/d', ACTIVEMQ_HOME: '/h' } });
  t.match(byEnv.config, { brokerName: 'other', dataDirectory: '/d', store: { directory: join(other, 'store', '/h') } });
  t.equal(loadConfigFile(file, undefined, { base: other, env: { ACTIVEMQ_BASE: '/nowhere' } }).config.brokerName, 'other', '--base wins');

  // The Debian package's activemq.xml lives in /etc/activemq/instances-available/main, not in a conf/ directory.
  const flat = mkdtempSync(join(tmpdir(), 'ferrymq-flat-'));
  t.teardown(() => rmSync(flat, { recursive: true, force: true }));
  writeFileSync(join(flat, 'activemq.xml'), '<beans><broker dataDirectory="${activemq.base}/data"/></beans>');
  throwsConfig(t, () => loadConfigFile(join(flat, 'activemq.xml')),
    /activemq\.xml: <beans><broker> attribute dataDirectory="\$\{activemq\.base\}\/data": cannot resolve \$\{activemq\.base\}: start with --base DIR, set ACTIVEMQ_BASE, or keep the file in DIR\/conf\/ as ActiveMQ lays it out$/);
  t.equal(loadConfigFile(join(flat, 'activemq.xml'), undefined, { env: { ACTIVEMQ_BASE: '/var/lib/activemq/main' } }).config.dataDirectory,
    '/var/lib/activemq/main/data');
  writeFileSync(join(flat, 'activemq.xml'), `<beans>${CONFIGURER}<broker/></beans>`);
  throwsConfig(t, () => loadConfigFile(join(flat, 'activemq.xml')), /location "file:\$\{activemq\.conf\}\/credentials\.properties": cannot resolve \$\{activemq\.conf\}/);
  throwsConfig(t, () => loadConfigFile(join(flat, 'activemq.xml'), undefined, { base: flat }),
    new RegExp(`location "file:\\$\\{activemq.conf\\}/credentials.properties": ${join(flat, 'conf', 'credentials.properties')}: no such file$`));
  t.equal(parseConfig('<broker brokerName="${USER_NAME}"/>', { env: { USER_NAME: 'env' } }).config.brokerName, 'env', 'environment fallback');
});

t.test('.properties files as Java reads them', async (t) => {
  t.strictSame(parseProperties('a=1\n  b : two words \n! bang\n# hash\nc 3\nd=multi\\\n   line\ne=x\\ty\\u0041\nempty=\nf\\=g=h'), [
    ['a', '1'], ['b', 'two words '], ['c', '3'], ['d', 'multiline'], ['e', 'x\tyA'], ['empty', ''], ['f=g', 'h'],
  ]);
});

t.test('<import resource="jetty.xml"/>: the web console address from its jettyPort bean; other beans one warning', async (t) => {
  const jetty = (port: string) => `<beans xmlns="http://www.springframework.org/schema/beans">
    <bean id="securityLoginService" class="org.eclipse.jetty.security.HashLoginService">
      <property name="config" value="\${activemq.conf}/jetty-realm.properties"/>
    </bean>
    <bean id="jettyPort" class="org.apache.activemq.web.WebConsolePort" init-method="start">
      <property name="host" value="127.0.0.2"/>
      <property name="port" value="${port}"/>
    </bean>
    <bean id="Server" class="org.eclipse.jetty.server.Server"/>
  </beans>`;
  const dir = layout(t, {
    'activemq.xml': '<beans><broker/><import resource="jetty.xml"/></beans>',
    'jetty.xml': jetty('8162'),
    'bad-port.xml': '<beans><broker/><import resource="bad-jetty.xml"/></beans>',
    'bad-jetty.xml': jetty('80000'),
    'missing.xml': '<beans><broker/><import resource="file:nope.xml"/></beans>',
    'loop.xml': '<beans><broker/><import resource="loop2.xml"/></beans>',
    'loop2.xml': '<beans><import resource="loop2.xml"/></beans>',
    'classpath.xml': '<beans><broker/><import resource="classpath:camel.xml"/></beans>',
    'camel.xml': '<beans><camelContext id="camel"/></beans>',
  });
  const conf = join(dir, 'conf');
  const r = loadConfigFile(join(conf, 'activemq.xml'));
  t.strictSame(r.config.webConsole, { enabled: true, host: '127.0.0.2', port: 8162 });
  t.strictSame(r.warnings, [{
    file: join(conf, 'jetty.xml'),
    message: '<beans>: 2 bean(s) ignored (securityLoginService, Server): ferrymq reads only PropertyPlaceholderConfigurer and WebConsolePort beans',
  }], 'one warning for the imported file, naming it');
  throwsConfig(t, () => loadConfigFile(join(conf, 'bad-port.xml')), /bad-jetty\.xml: <beans><bean> id="jettyPort" \(org\.apache\.activemq\.web\.WebConsolePort\) property port="80000": must be an integer 0\.\.65535$/);
  throwsConfig(t, () => loadConfigFile(join(conf, 'missing.xml')), new RegExp(`missing\\.xml: <beans><import> attribute resource="file:nope\\.xml": ${join(conf, 'nope.xml')}: no such file$`));
  throwsConfig(t, () => loadConfigFile(join(conf, 'loop.xml')), /loop2\.xml: <beans><import> resource="loop2\.xml": imports nested more than 8 deep \(a loop\?\)$/);
  t.match(loadConfigFile(join(conf, 'classpath.xml')).warnings, [{ message: '<beans><import> resource="classpath:camel.xml" is not a file ferrymq can read; ignored' }]);
  throwsConfig(t, () => loadConfigFile(join(conf, 'camel.xml')), /camel\.xml: <beans>: has no <broker>: camel\.xml holds Camel routes; start the activemq\.xml that imports it$/);
});

t.test('transport schemes: nio, stomp+nio and auto are served; amqp, mqtt, ws are skipped with one warning each, and so is ssl without an <sslContext>', async (t) => {
  const { config, warnings } = parseConfig(`<broker><transportConnectors>
    <transportConnector name="openwire" uri="tcp://127.0.0.1:61616?maximumConnections=1000&amp;wireFormat.maxFrameSize=104857600"/>
    <transportConnector name="nio" uri="nio://127.0.0.1:61617?transport.soTimeout=5&amp;trace=true"/>
    <transportConnector name="stomp+nio" uri="stomp+nio://127.0.0.1:61613?transport.closeAsync=false"/>
    <transportConnector name="auto" uri="auto://127.0.0.1:5671"/>
    <transportConnector name="auto+nio" uri="auto+nio://127.0.0.1:5672?protocolDetectionTimeOut=2000&amp;auto.protocols=default,stomp"/>
    <transportConnector name="amqp" uri="amqp://0.0.0.0:5673?maximumConnections=1000&amp;wireFormat.maxFrameSize=104857600"/>
    <transportConnector name="mqtt" uri="mqtt+nio://0.0.0.0:1883"/>
    <transportConnector name="ws" uri="ws://0.0.0.0:61614"/>
    <transportConnector name="ssl" uri="ssl://0.0.0.0:61618"/>
    <transportConnector name="stomp+ssl" uri="stomp+nio+ssl://0.0.0.0:61619"/>
  </transportConnectors></broker>`);
  t.strictSame(config.transportConnectors.map((c) => [c.name, c.protocol, c.endpoint.scheme, c.endpoint.port]), [
    ['openwire', 'native', 'tcp', 61616], ['nio', 'native', 'tcp', 61617], ['stomp+nio', 'stomp', 'stomp', 61613],
    ['auto', 'auto', 'tcp', 5671], ['auto+nio', 'auto', 'tcp', 5672],
  ]);
  t.equal(config.transportConnectors[1]!.uri, 'nio://127.0.0.1:61617?transport.soTimeout=5&trace=true', 'the URI as written');
  t.strictSame(config.transportConnectors.map((c) => c.protocolDetectionTimeoutMs), [undefined, undefined, undefined, 10000, 2000]);
  const P = '<broker><transportConnectors><transportConnector>';
  t.strictSame(warnings.map((w) => w.message), [
    `${P} uri="nio://127.0.0.1:61617?transport.soTimeout=5&trace=true" option transport.soTimeout is not supported by ferrymq; ignored`,
    `${P} uri="nio://127.0.0.1:61617?transport.soTimeout=5&trace=true" option trace is not supported by ferrymq; ignored`,
    `${P} uri="stomp+nio://127.0.0.1:61613?transport.closeAsync=false" option transport.closeAsync is not supported by ferrymq; ignored`,
    `${P} uri="auto+nio://127.0.0.1:5672?protocolDetectionTimeOut=2000&auto.protocols=default,stomp" option auto.protocols is not supported by ferrymq; ignored`,
    `${P} name="amqp" uri="amqp://0.0.0.0:5673?maximumConnections=1000&wireFormat.maxFrameSize=104857600" is skipped: ferrymq does not speak AMQP`,
    `${P} name="mqtt" uri="mqtt+nio://0.0.0.0:1883" is skipped: ferrymq does not speak MQTT`,
    `${P} name="ws" uri="ws://0.0.0.0:61614" is skipped: ferrymq has no WebSocket transport`,
    '<transportConnector name="ssl" uri="ssl://0.0.0.0:61618"> is skipped: a TLS connector needs <sslContext><sslContext keyStore="broker.pem" …/></sslContext> in <broker>',
    '<transportConnector name="stomp+ssl" uri="stomp+nio+ssl://0.0.0.0:61619"> is skipped: a TLS connector needs <sslContext><sslContext keyStore="broker.pem" …/></sslContext> in <broker>',
  ]);
  const only = parseConfig('<broker><transportConnectors><transportConnector uri="mqtt://0.0.0.0:1883"/></transportConnectors></broker>');
  t.strictSame(only.config.transportConnectors, []);
  t.match(only.warnings.at(-1)!.message, /^no transport connector ferrymq can serve: clients cannot connect/);
  const cli = parseConfig('<broker/>', { overrides: { transports: ['auto://127.0.0.1:0', 'amqp://127.0.0.1:0'] } });
  t.strictSame(cli.config.transportConnectors.map((c) => [c.name, c.protocol]), [['cli0', 'auto']]);
  t.strictSame(cli.warnings.map((w) => w.message), ['--transport amqp://127.0.0.1:0 is skipped: ferrymq does not speak AMQP']);
  throwsConfig(t, () => parseConfig('<broker/>', { overrides: { transports: ['nio://h:1?soTimout=5'] } }),
    /^<overrides>: transports\[0\]="nio:\/\/h:1\?soTimout=5": unknown option "soTimout" \(valid: maximumConnections, wireFormat\.maxFrameSize, wireFormat\.maxInactivityDuration, transport\.\*, wireFormat\.\*\)$/);
});
