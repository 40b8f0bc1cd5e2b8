/**
 * A network bridge to a secured peer: the peer has a TLS connector that needs client certificates and the security
 * plugins. A bridge with the connector's userName/password (as attributes, or as static: URI options) and the
 * broker's own certificate forwards every message; one without credentials, or with wrong ones, is refused on
 * both sides and forwards nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { connect } from '../../src/index.js';
import { type BrokerProcess, startBroker, tempDir, type Teardown } from '../helpers/broker.js';
import { issue, makeCa, type Pki } from '../helpers/certs.js';

interface Peer {
  b: BrokerProcess;
  sslUrl: string;
  pki: Pki;
  dir: string;
}

/** Broker B: ssl:// with needClientAuth, users `bridge` (write on BR.>) and `app` (read on BR.>). */
async function securedPeer(t: Teardown): Promise<Peer> {
  const dir = tempDir(t, 'ferrymq-bridge-sec-');
  const pki = makeCa(dir, 'net-ca');
  const cert = issue(pki, 'peer-b');
  const conf = join(dir, 'b.xml');
  writeFileSync(conf, `<broker brokerName="B" persistent="false">
    <sslContext><sslContext keyStore="${cert.pem}" trustStore="${pki.caCert}"/></sslContext>
    <plugins>
      <simpleAuthenticationPlugin><users>
        <authenticationUser username="bridge" password="bridge-pw" groups="bridges"/>
        <authenticationUser username="app" password="app-pw" groups="apps"/>
      </users></simpleAuthenticationPlugin>
      <authorizationPlugin><map><authorizationMap><authorizationEntries>
        <authorizationEntry queue="BR.>" read="apps" write="bridges" admin="apps,bridges"/>
      </authorizationEntries></authorizationMap></map></authorizationPlugin>
    </plugins>
    <transportConnectors>
      <transportConnector name="ssl" uri="ssl://127.0.0.1:0?needClientAuth=true"/>
      <transportConnector name="plain" uri="tcp://127.0.0.1:0"/>
    </transportConnectors>
  </broker>`);
  const b = await startBroker(t, { noTransport: true, args: ['--conf', conf] });
  const l = await b.waitForLog((l) => l['connector'] === 'ssl' && String(l['msg']).includes('listening'), 'ssl connector listening');
  return { b, sslUrl: String(l['url']), pki, dir };
}

/** Broker A (no security of its own), bridging to `peer` with `connector` as its networkConnector element. */
async function bridgingNode(t: Teardown, peer: Peer, connector: string): Promise<BrokerProcess> {
  const cert = issue(peer.pki, `node-a-${Math.random().toString(36).slice(2, 8)}`);
  const conf = join(peer.dir, `a-${Date.now()}.xml`);
  writeFileSync(conf, `<broker brokerName="A" persistent="false">
    <sslContext><sslContext keyStore="${cert.pem}" trustStore="${peer.pki.caCert}"/></sslContext>
    <transportConnectors><transportConnector name="plain" uri="tcp://127.0.0.1:0"/></transportConnectors>
    <networkConnectors>${connector}</networkConnectors>
  </broker>`);
  return startBroker(t, { noTransport: true, args: ['--conf', conf] });
}

/** Produce `n` on A, consume on B (as `app`): how many unique messages B's consumer got. */
async function forward(t: Teardown, a: BrokerProcess, peer: Peer, dest: string, n: number): Promise<number> {
  const plainB = peer.b.logs.find((l) => l['connector'] === 'plain' && String(l['msg']).includes('listening'))!['url'] as string;
  const consumer = await connect(plainB, { user: 'app', password: 'app-pw' });
  t.teardown(() => consumer.close());
  const sub = await consumer.subscribe(dest);
  await a.waitForLog((l) => String(l['msg']).startsWith(`demand for ${dest} from B`), `A learns B's demand for ${dest}`);
  const producer = await connect(a.url);
  t.teardown(() => producer.close());
  for (let i = 0; i < n; i++) await producer.send(dest, `m${i}`);
  const seen = new Set<string>();
  for (;;) {
    const m = await sub.receive(10_000);
    if (m === null) break;
    seen.add(String(m.body));
    if (seen.size === n) break;
  }
  return seen.size;
}

t.test('with userName/password and its certificate, the bridge forwards everything over TLS', async (t) => {
  const peer = await securedPeer(t);
  const a = await bridgingNode(t, peer, `<networkConnector name="secure" uri="static:(${peer.sslUrl})" userName="bridge" password="bridge-pw"/>`);
  await a.waitForLog((l) => String(l['msg']).startsWith('network bridge') && l['remoteBroker'] === 'B', 'bridge up to B');
  t.equal(await forward(t, a, peer, 'queue://BR.orders', 50), 50, '50 sent on A, 50 unique received on B');
  const all = a.logs.concat(peer.b.logs).map((l) => JSON.stringify(l)).join('\n');
  t.notOk(all.includes('bridge-pw'), 'the bridge password is in no log line');
});

t.test('credentials as static: URI options work the same', async (t) => {
  const peer = await securedPeer(t);
  const a = await bridgingNode(t, peer, `<networkConnector name="secure" uri="static:(${peer.sslUrl})?userName=bridge&amp;password=bridge-pw"/>`);
  await a.waitForLog((l) => String(l['msg']).startsWith('network bridge') && l['remoteBroker'] === 'B', 'bridge up to B');
  t.equal(await forward(t, a, peer, 'queue://BR.uri', 10), 10, '10 sent, 10 received');
  t.notOk(a.logs.some((l) => JSON.stringify(l).includes('bridge-pw')), 'the password in the URI is in no log line');
});

t.test('without credentials, or with a wrong password, the peer refuses the bridge and both sides say so', async (t) => {
  const peer = await securedPeer(t);
  const none = await bridgingNode(t, peer, `<networkConnector name="anon" uri="static:(${peer.sslUrl})"/>`);
  const l = await none.waitForLog((l) => /^network bridge anon@.* refused by /.test(String(l['msg'])), 'A logs the refusal');
  t.match(String(l['msg']), /refused by ssl:\/\/127\.0\.0\.1:\d+\S*: authentication failed for a connection without credentials \(set userName\/password on the networkConnector\)/);
  await peer.b.waitForLog((l) => String(l['msg']).startsWith('authentication failed for a connection without credentials from 127.0.0.1'), 'B logs it');
  const wrong = await bridgingNode(t, peer, `<networkConnector name="wrong" uri="static:(${peer.sslUrl})" userName="bridge" password="guess"/>`);
  await wrong.waitForLog((l) => /^network bridge wrong@.* refused by .*authentication failed for user bridge/.test(String(l['msg'])), 'A logs the refusal');
  await peer.b.waitForLog((l) => String(l['msg']).startsWith('authentication failed for user bridge from 127.0.0.1'), 'B logs it');
  for (const node of [none, wrong]) {
    t.notOk(node.logs.some((l) => String(l['msg']).includes(' up: ')), 'no bridge came up');
  }
});
