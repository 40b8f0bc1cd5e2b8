/**
 * The security pieces on their own: scrypt password hashes, the brute-force throttle, the authorization map's
 * read/write/admin decisions with ActiveMQ wildcards, and the config elements (`<plugins>`, `<sslContext>`,
 * networkConnector credentials) with their errors.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/config/config.js';
import type { AuthorizeAction } from '../../src/broker/hooks.js';
import { silentLogger } from '../../src/log.js';
import { SimpleAuthentication } from '../../src/security/authentication.js';
import { AuthorizationMap, patternCovers } from '../../src/security/authorization.js';
import { hashPassword, parseHash, verifyPassword } from '../../src/security/passwords.js';
import { addressOf, LoginThrottle } from '../../src/security/throttle.js';

t.test('scrypt hashes: made by hashPassword, checked by verifyPassword; plain text is plain', async (t) => {
  const h = await hashPassword('s3cret', { n: 1024 });
  t.match(h, /^scrypt:1024:8:1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  t.equal(await verifyPassword(h, 's3cret'), true, 'the right password');
  t.equal(await verifyPassword(h, 's3cret '), false, 'a wrong one');
  t.not(await hashPassword('s3cret', { n: 1024 }), h, 'salted: the same password hashes differently');
  t.equal(await verifyPassword('plain', 'plain'), true);
  t.equal(await verifyPassword('plain', 'plain2'), false);
  t.equal(parseHash('plain'), null, 'no scrypt: prefix: a plain password');
  for (const bad of ['scrypt:1000:8:1:AA==:AA==', 'scrypt:1024:8:1:AA==', 'scrypt:4194304:8:1:AA==:AA==', 'scrypt:1024:0:1:AA==:AA==']) {
    t.throws(() => parseHash(bad), { code: 'FERRY_CONFIG' }, `malformed: ${bad}`);
  }
});

t.test('login throttle: no wait for a typo, then doubling waits, capped; bounded and forgetful', async (t) => {
  let now = 0;
  const th = new LoginThrottle({ baseDelayMs: 100, maxDelayMs: 1000, maxAddresses: 3, forgetAfterMs: 60_000, now: () => now });
  const delays: number[] = [];
  for (let i = 0; i < 7; i++) {
    delays.push(th.delayMs('10.0.0.1'));
    th.failed('10.0.0.1');
  }
  t.strictSame(delays, [0, 0, 100, 200, 400, 800, 1000], 'waits before attempts 1..7');
  t.equal(th.delayMs('10.0.0.2'), 0, 'another address is not slowed');
  th.succeeded('10.0.0.1');
  t.equal(th.delayMs('10.0.0.1'), 0, 'a success clears the address');
  for (let i = 0; i < 3; i++) th.failed('10.0.0.1');
  now = 60_001;
  t.equal(th.delayMs('10.0.0.1'), 0, 'forgotten after a quiet spell');
  for (const a of ['a', 'b', 'c', 'd', 'e']) th.failed(a);
  t.equal(th.size, 3, 'at most maxAddresses remembered');
  t.equal(th.failures('a'), 0, 'the oldest went first');
  t.equal(th.failures('e'), 1);
  t.equal(addressOf('127.0.0.1:5000'), '127.0.0.1');
  t.equal(addressOf('::1:5000'), '::1', 'IPv6 keeps its colons');
});

t.test('authentication: users, anonymous access, the groups of a user', async (t) => {
  const users = [{ username: 'u', password: 'p', groups: ['g1', 'g2'] }];
  const closed = new SimpleAuthentication({ users, anonymousAccessAllowed: false, anonymousUser: 'anonymous', anonymousGroup: 'anonymous' }, silentLogger());
  const cred = (user?: string, password?: string): Parameters<typeof closed.authenticate>[0] => ({ user, password, clientId: null, remote: '10.1.1.1:1', protocol: 'native' });
  t.match(await closed.authenticate(cred('u', 'p')), { user: 'u' });
  t.strictSame([...((await closed.authenticate(cred('u', 'p'))) as { groups: Set<string> }).groups], ['g1', 'g2']);
  t.equal(await closed.authenticate(cred('u', 'x')), false, 'wrong password');
  t.equal(await closed.authenticate(cred('x', 'p')), false, 'unknown user');
  t.equal(await closed.authenticate(cred()), false, 'anonymous refused');
  t.equal(await closed.authenticate(cred('u')), false, 'a user without a password is not anonymous');
  t.equal(closed.throttle.failures('10.1.1.1'), 4, 'four failures counted');
  const open = new SimpleAuthentication({ users, anonymousAccessAllowed: true, anonymousUser: 'guest', anonymousGroup: 'guests' }, silentLogger());
  const anon = await open.authenticate({ ...cred(), remote: '10.1.1.2:1' });
  t.match(anon, { user: 'guest' }, 'anonymous allowed: as anonymousUser');
  t.strictSame([...(anon as { groups: Set<string> }).groups], ['guests']);
  t.strictSame([...open.groupsOf('u')], ['g1', 'g2']);
  t.strictSame([...open.groupsOf(null)], ['guests']);
  t.strictSame([...closed.groupsOf(null)], []);
});

t.test('patternCovers: a wildcard subscription is covered only by a pattern naming at least as much', async (t) => {
  const cases: [string, string, boolean][] = [
    ['>', 'A.B', true], ['A.>', 'A.B.C', true], ['A.>', 'A', false], ['A.*', 'A.B', true], ['A.*', 'A.B.C', false],
    ['A.>', 'A.>', true], ['>', 'A.>', true], ['A.*', 'A.*', true], ['A.*', 'A.>', false], ['A.B.>', 'A.>', false],
    ['A.>', 'A.*', true], ['*.B', '*.B', true], ['A.B', 'A.*', false],
  ];
  for (const [p, n, want] of cases) t.equal(patternCovers(p, n), want, `${p} covers ${n}: ${want}`);
});

t.test('authorization map: each permission governs its actions; entries join; default, temp and advisory rules', async (t) => {
  const map = new AuthorizationMap(
    {
      entries: [
        { dests: ['queue://ORDERS.>'], read: ['r'], write: ['w'], admin: ['a'] },
        { dests: ['queue://ORDERS.EU.>', 'topic://PRICES.*'], read: ['eu'], write: [], admin: [] },
        { dests: ['queue://PUBLIC'], read: ['*'], write: [], admin: [] },
      ],
      defaultEntry: null,
      tempEntry: null,
    },
    (p) => p['groups'] as Set<string>,
  );
  const who = (...g: string[]) => ({ user: 'x', groups: new Set(g) });
  const actions: AuthorizeAction[] = ['send', 'subscribe', 'browse', 'unsubscribe', 'create', 'purge', 'delete'];
  const needs: Record<string, string> = { send: 'w', subscribe: 'r', browse: 'r', unsubscribe: 'r', create: 'a', purge: 'a', delete: 'a' };
  for (const groups of [[], ['r'], ['w'], ['a'], ['r', 'w'], ['r', 'a'], ['w', 'a'], ['r', 'w', 'a']]) {
    for (const action of actions) {
      t.equal(map.authorize(who(...groups), action, 'queue://ORDERS.X'), groups.includes(needs[action]!), `[${groups.join(',')}] ${action}`);
    }
  }
  t.equal(map.authorize(who(), 'stats', null), true, 'stats: anyone connected');
  t.equal(map.authorize(who('eu'), 'subscribe', 'queue://ORDERS.EU.x'), true, 'a second matching entry adds its groups');
  t.equal(map.authorize(who('r'), 'subscribe', 'queue://ORDERS.EU.x'), true, 'and the first still counts');
  t.equal(map.authorize(who('eu'), 'subscribe', 'queue://ORDERS.US.x'), false);
  t.equal(map.authorize(who('eu'), 'subscribe', 'topic://PRICES.X'), true, 'a comma list names several patterns');
  t.equal(map.authorize(who('r'), 'subscribe', 'topic://ORDERS.X'), false, 'queue entries do not cover topics');
  t.equal(map.authorize(who('w'), 'send', 'queue://ELSEWHERE'), false, 'no entry, no default: refused');
  t.equal(map.authorize(who(), 'browse', 'queue://PUBLIC'), true, '"*" is every user');
  t.equal(map.authorize(who(), 'subscribe', 'topic://ActiveMQ.Advisory.Consumer.>'), true, 'advisories: readable without an entry');
  t.equal(map.authorize(who(), 'create', 'topic://ActiveMQ.Advisory.Consumer.Queue.X'), true, 'subscribing to one not yet published is reading');
  t.equal(map.authorize(who(), 'send', 'topic://ActiveMQ.Advisory.Consumer.Queue.X'), false, 'but nobody forges one');
  t.equal(map.authorize(who(), 'send', 'temp-queue://ID:1'), true, 'temporary queues: any user, without a temp entry');
  const strict = new AuthorizationMap(
    {
      entries: [{ dests: ['topic://ActiveMQ.Advisory.>'], read: ['admins'], write: [], admin: [] }],
      defaultEntry: { dests: [], read: ['all'], write: ['all'], admin: [] },
      tempEntry: { dests: [], read: ['t'], write: ['t'], admin: ['t'] },
    },
    (p) => p['groups'] as Set<string>,
  );
  t.equal(strict.authorize(who('all'), 'send', 'queue://ANY'), true, 'defaultEntry for the rest');
  t.equal(strict.authorize(who('all'), 'create', 'queue://ANY'), false, 'its admin is empty');
  t.equal(strict.authorize(who('all'), 'subscribe', 'topic://ActiveMQ.Advisory.X'), false, 'an advisory entry decides for advisories');
  t.equal(strict.authorize(who('all'), 'send', 'temp-queue://ID:1'), false, 'tempDestinationAuthorizationEntry decides for temp queues');
  t.equal(strict.authorize(who('t'), 'send', 'temp-queue://ID:1'), true);
});

const USERS = `<simpleAuthenticationPlugin><users>
  <authenticationUser username="a" password="very-secret" groups="g1, g2"/>
</users></simpleAuthenticationPlugin>`;

t.test('config: <plugins> and <sslContext>, and what is wrong with them', async (t) => {
  const { config, warnings } = parseConfig(`<broker><plugins>${USERS}
    <authorizationPlugin><map><authorizationMap>
      <authorizationEntries>
        <authorizationEntry queue="A.>,B" read="g1" write="g2" admin="g1,g2"/>
        <authorizationEntry topic=">" read="g1"/>
      </authorizationEntries>
      <defaultEntry><authorizationEntry read="g1"/></defaultEntry>
      <tempDestinationAuthorizationEntry><tempDestinationAuthorizationEntry read="g2" write="g2" admin="g2"/></tempDestinationAuthorizationEntry>
    </authorizationMap></map></authorizationPlugin>
    <statisticsBrokerPlugin/>
  </plugins></broker>`);
  t.match(config.security.authentication, { anonymousAccessAllowed: false, users: [{ username: 'a', groups: ['g1', 'g2'] }] });
  t.equal(config.security.authentication!.users[0]!.password, 'very-secret', 'the password is there');
  t.notOk(JSON.stringify(config).includes('very-secret'), 'but never in the config printed as JSON');
  t.strictSame(config.security.authorization!.entries.map((e) => e.dests), [['queue://A.>', 'queue://B'], ['topic://>']]);
  t.strictSame(config.security.authorization!.defaultEntry?.read, ['g1']);
  t.strictSame(config.security.authorization!.tempEntry?.admin, ['g2']);
  t.strictSame(warnings.map((w) => w.message), ['<broker><plugins><statisticsBrokerPlugin> is ignored: ferrymq does not support broker plugins']);
  t.equal(parseConfig('<broker><plugins><simpleAuthenticationPlugin/></plugins></broker>').config.security.authentication!.anonymousAccessAllowed, true,
    'no users at all: anonymous access, or nobody could connect');
  const fails: [string, RegExp][] = [
    ['<authenticationUser username="a" password="x"/><authenticationUser username="a" password="y"/>', /username="a": the user is given twice/],
    ['<authenticationUser username="a"/>', /username="a": attribute password is required/],
    ['<authenticationUser username="a" password="scrypt:1:2"/>', /looks like a scrypt hash but is not one/],
  ];
  for (const [users, re] of fails) {
    t.throws(() => parseConfig(`<broker><plugins><simpleAuthenticationPlugin><users>${users}</users></simpleAuthenticationPlugin></plugins></broker>`), re);
  }
  try {
    parseConfig('<broker><plugins><simpleAuthenticationPlugin><users><authenticationUser username="a" password="scrypt:zz"/></users></simpleAuthenticationPlugin></plugins></broker>');
    t.fail('a malformed hash is refused');
  } catch (e) {
    t.notMatch((e as Error).message, /scrypt:zz/, 'and the error does not quote the password');
  }
  t.throws(() => parseConfig('<broker><plugins><authorizationPlugin><map><authorizationMap><authorizationEntries><authorizationEntry read="x"/></authorizationEntries></authorizationMap></map></authorizationPlugin></plugins></broker>'),
    /needs one of queue="PATTERN" or topic="PATTERN"/);
  const only = parseConfig('<broker><plugins><authorizationPlugin><map><authorizationMap/></map></authorizationPlugin></plugins></broker>');
  t.match(only.warnings.at(-1)!.message, /without <simpleAuthenticationPlugin>: every client is anonymous/);
});

t.test('config: ssl:// connectors need a PEM <sslContext>; networkConnector credentials', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrymq-sslconf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'b.pem'), '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n');
  writeFileSync(join(dir, 'not.pem'), 'hello');
  writeFileSync(join(dir, 'kc.pem'), '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n');
  const conf = (ssl: string, uri = 'ssl://127.0.0.1:0?needClientAuth=true') =>
    parseConfig(`<broker>${ssl}<transportConnectors><transportConnector name="s" uri="${uri}"/></transportConnectors></broker>`, { cwd: dir });
  const ok = conf('<sslContext><sslContext keyStore="kc.pem" trustStore="file:b.pem" keyStorePassword="pp"/></sslContext>');
  t.match(ok.config.transportConnectors[0], { tls: true, needClientAuth: true, endpoint: { scheme: 'ssl' } });
  t.match(ok.config.sslContext, { keyStore: join(dir, 'kc.pem'), trustStore: join(dir, 'b.pem'), keyFile: null });
  t.equal(ok.config.sslContext!.keyStorePassword, 'pp');
  t.notOk(JSON.stringify(ok.config).includes('"pp"'), 'the passphrase is not in the config printed as JSON');
  t.throws(() => conf('<sslContext><sslContext keyStore="kc.pem"/></sslContext>'), /needClientAuth=true needs <sslContext trustStore/);
  t.throws(() => conf('<sslContext><sslContext keyStore="nope.pem"/></sslContext>'), /keyStore="nope.pem": no such file/);
  t.throws(() => conf('<sslContext><sslContext keyStore="not.pem"/></sslContext>'), /keyStore="not.pem": not a PEM file/);
  t.throws(() => conf('<sslContext><sslContext keyStore="b.pem" trustStore="b.pem"/></sslContext>', 'ssl://127.0.0.1:0'), /keyStore="b.pem": holds no private key/);
  t.match(conf('<sslContext><sslContext keyStore="b.pem" keyFile="b.pem" trustStore="b.pem"/></sslContext>').config.sslContext, { keyFile: join(dir, 'b.pem') },
    'or the key apart in keyFile');
  const java = conf('<sslContext><sslContext keyStore="broker.ks" trustStore="broker.ts"/></sslContext>', 'ssl://127.0.0.1:0');
  t.strictSame(java.config.transportConnectors, [], 'a Java keystore: the ssl connector is skipped');
  t.match(java.warnings.at(-1)!.message, /name="s" .* is skipped: .*names a Java keystore and ferrymq reads PEM files/);
  t.strictSame(conf('', 'ssl://127.0.0.1:0').config.transportConnectors, [], 'no sslContext: skipped too');
  const net = (attrs: string) => parseConfig(`<broker><networkConnectors><networkConnector uri="static:(ssl://127.0.0.1:61617)${attrs}</networkConnectors></broker>`);
  const n = net('" userName="bridge" password="pw"/>').config.networkConnectors[0]!;
  t.equal(n.userName, 'bridge');
  t.equal(n.password, 'pw');
  t.notOk(JSON.stringify(n).includes('pw"'), 'the bridge password is not in the config printed as JSON');
  t.equal(n.network.kind === 'static' && n.network.endpoints[0]!.scheme, 'ssl', 'ssl:// in a static: URI');
  const u = net('?userName=bridge&amp;password=pw2"/>').config.networkConnectors[0]!;
  t.equal(u.password, 'pw2', 'as URI options');
  t.equal(u.uri, 'static:(ssl://127.0.0.1:61617)?userName=bridge&password=***', 'shown without the password');
  t.throws(() => net('" userName="bridge"/>'), /give userName and password together, or neither/);
});
