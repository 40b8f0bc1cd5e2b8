/**
 * ssl:// connectors on a real broker process, with a CA and certificates made at test time (openssl): a trusted
 * client works (plain, failover and CLI URLs); an untrusted broker certificate, a missing or foreign client
 * certificate (needClientAuth) and a plain client on the TLS port each fail with a clear error on both sides, and
 * the broker goes on serving.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { connect, type Connection, type SecurityError } from '../../src/index.js';
import { BIN, type BrokerProcess, startBroker, tempDir, type Teardown } from '../helpers/broker.js';
import { issue, makeCa } from '../helpers/certs.js';
import { runToEnd } from '../helpers/proc.js';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect, type Socket } from 'node:net';

interface TlsBroker {
  b: BrokerProcess;
  /** URL per connector name: ssl (server certificate only), mutual (needClientAuth), plain (tcp). */
  urls: Record<'ssl' | 'mutual' | 'plain' | 'stomp', string>;
  ca: string;
  client: { cert: string; key: string };
  /** A client certificate from a CA the broker does not trust. */
  stranger: { cert: string; key: string };
}

/** `sslQuery`: options of the ssl connector's URI, e.g. `?maximumConnections=1`. */
async function tlsBroker(t: Teardown, sslQuery = ''): Promise<TlsBroker> {
  const dir = tempDir(t, 'ferrymq-tls-');
  const ca = makeCa(dir, 'test-ca');
  const broker = issue(ca, 'broker');
  const client = issue(ca, 'client');
  const other = makeCa(dir, 'other-ca');
  const stranger = issue(other, 'stranger');
  const conf = join(dir, 'tls.xml');
  writeFileSync(conf, `<broker brokerName="tls" persistent="false">
    <sslContext><sslContext keyStore="${broker.pem}" trustStore="${ca.caCert}"/></sslContext>
    <transportConnectors>
      <transportConnector name="ssl" uri="ssl://127.0.0.1:0${sslQuery}"/>
      <transportConnector name="mutual" uri="ssl://127.0.0.1:0?needClientAuth=true"/>
      <transportConnector name="plain" uri="tcp://127.0.0.1:0"/>
      <transportConnector name="stomp" uri="stomp+ssl://127.0.0.1:0"/>
    </transportConnectors>
  </broker>`);
  const b = await startBroker(t, { noTransport: true, args: ['--conf', conf] });
  const urls = {} as TlsBroker['urls'];
  for (const name of ['ssl', 'mutual', 'plain', 'stomp'] as const) {
    const l = await b.waitForLog((l) => l['connector'] === name && String(l['msg']).includes('listening'), `connector ${name} listening`);
    urls[name] = String(l['url']);
  }
  return { b, urls, ca: ca.caCert, client: { cert: client.cert, key: client.key }, stranger: { cert: stranger.cert, key: stranger.key } };
}

/** `connect` that resolves to the error it rejected with (or fails the test when it connects). */
async function refused(url: string, opts: Parameters<typeof connect>[1]): Promise<Error> {
  const c = await connect(url, opts).catch((e: unknown) => e as Error);
  if (!(c instanceof Error)) {
    await (c as Connection).close();
    throw new Error(`${url} connected; it should have been refused`);
  }
  return c;
}

/** Send `n` and receive them back on `c`: the connection works end to end. */
async function roundTrip(c: Connection, dest: string, n: number): Promise<number> {
  const sub = await c.subscribe(dest);
  for (let i = 0; i < n; i++) await c.send(dest, `m${i}`);
  const seen = new Set<string>();
  for await (const m of sub) {
    seen.add(String(m.body));
    if (seen.size === n) break;
  }
  return seen.size;
}

t.test('a client trusting the test CA talks over ssl://, also through failover: and the CLI', async (t) => {
  const { urls, ca } = await tlsBroker(t);
  t.match(urls.ssl, /^ssl:\/\/127\.0\.0\.1:\d+$/, 'the connector says ssl://');
  const c = await connect(urls.ssl, { tls: { ca: readFileSync(ca) } });
  t.teardown(() => c.close());
  t.equal(await roundTrip(c, 'queue://tls.a', 20), 20, '20 sent, 20 received');
  const f = await connect(`failover:(${urls.ssl})?maxReconnectAttempts=0`, { tls: { ca: readFileSync(ca) } });
  t.teardown(() => f.close());
  t.equal(await roundTrip(f, 'queue://tls.b', 5), 5, 'failover:(ssl://…) works too');
  const sent = await runToEnd(t, process.execPath, [BIN, 'producer', '--url', urls.ssl, '--ca', ca, '--count', '7', '--destination', 'tls.cli', '--json'], { timeoutMs: 20_000 });
  t.equal(sent.code, 0, `producer --ca exits 0 (${sent.stderr})`);
  // Trust from Node's own setting instead of --ca.
  const got = await runToEnd(t, process.execPath, [BIN, 'consumer', '--url', urls.ssl, '--count', '7', '--destination', 'tls.cli', '--json'], {
    timeoutMs: 20_000,
    env: { NODE_EXTRA_CA_CERTS: ca },
  });
  t.equal(got.code, 0, `consumer with NODE_EXTRA_CA_CERTS exits 0 (${got.stderr})`);
  t.match(JSON.parse(got.stdout.trim().split('\n').at(-1)!), { received: 7, unique: 7 }, '7 received over TLS');
  const untrusted = await runToEnd(t, process.execPath, [BIN, 'dstat', '--url', urls.ssl], { timeoutMs: 20_000 });
  t.equal(untrusted.code, 1, 'without the CA the CLI fails');
  t.match(untrusted.stderr, /TLS: the peer's certificate is not trusted .*--ca FILE/, 'and says what to do');
});

t.test('an untrusted broker certificate fails the handshake, with a reason on both sides', async (t) => {
  const { b, urls } = await tlsBroker(t);
  const err = await refused(urls.ssl, {});
  t.match(err.message, /cannot connect to ssl:\/\/127\.0\.0\.1:\d+: TLS: the peer's certificate is not trusted \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
  const l = await b.waitForLog((l) => String(l['msg']).startsWith('TLS handshake with 127.0.0.1 failed'), 'the broker logs the failed handshake');
  t.match(String(l['msg']), /failed: the client hung up during the handshake \(does it trust this broker's certificate\?\)/, 'saying what probably happened');
});

t.test('needClientAuth: no certificate or a foreign one is refused; one from the trusted CA gets in', async (t) => {
  const { b, urls, ca, client, stranger } = await tlsBroker(t);
  const trust = readFileSync(ca);
  const none = await refused(urls.mutual, { tls: { ca: trust } });
  t.match(none.message, /ssl:\/\/127\.0\.0\.1:\d+: a client certificate is required \(needClientAuth\) and none was given/, 'no certificate: the client is told');
  t.equal((none as SecurityError).code, 'FERRY_AUTHENTICATION_FAILED', 'as a refused login (not retried by failover)');
  await b.waitForLog((l) => String(l['msg']) === 'TLS client 127.0.0.1 refused: a client certificate is required (needClientAuth) and none was given', 'the broker logs the missing certificate');
  const foreign = await refused(urls.mutual, { tls: { ca: trust, cert: readFileSync(stranger.cert), key: readFileSync(stranger.key) } });
  t.match(foreign.message, /the client certificate is not trusted \(.+\): its CA is not in the broker's trustStore/, 'a foreign certificate: the client is told');
  await b.waitForLog((l) => /^TLS client 127\.0\.0\.1 refused: the client certificate is not trusted/.test(String(l['msg'])), 'the broker logs the foreign certificate');
  const c = await connect(urls.mutual, { tls: { ca: trust, cert: readFileSync(client.cert), key: readFileSync(client.key) } });
  t.teardown(() => c.close());
  t.equal(await roundTrip(c, 'queue://tls.mutual', 10), 10, 'the trusted client certificate works: 10 sent, 10 received');
});

t.test('a plain client on the TLS port is told to use ssl://; a TLS client on the plain port is told it is not TLS', async (t) => {
  const { b, urls, ca } = await tlsBroker(t);
  const port = new URL(urls.ssl).port;
  const plain = await refused(`tcp://127.0.0.1:${port}`, {});
  t.match(plain.message, new RegExp(`ssl://127\\.0\\.0\\.1:${port} speaks TLS: connect with ssl://127\\.0\\.0\\.1:${port}`), 'the plain client reads why');
  await b.waitForLog((l) => String(l['msg']).startsWith('plain (non-TLS) connection from 127.0.0.1'), 'the broker logs the plain connection');
  const wrongWay = await refused(urls.plain.replace('tcp://', 'ssl://'), { tls: { ca: readFileSync(ca) } });
  t.match(wrongWay.message, /TLS: the other side does not speak TLS on this port/, 'TLS to a plain port: named');
  // The broker is unharmed: TLS and plain clients still work.
  const c = await connect(urls.ssl, { tls: { ca: readFileSync(ca) } });
  t.teardown(() => c.close());
  t.equal(await roundTrip(c, 'queue://tls.after', 3), 3, 'a TLS client works after both');
  t.equal(b.proc.exitCode, null, 'the broker is still running');
});

/** Everything a socket receives until it closes or `until` shows up in it. */
function readUntil(socket: Socket, until: RegExp, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`no ${what} within 5000 ms; got ${JSON.stringify(got)}`)), 5000);
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (until.test(got)) {
        clearTimeout(timer);
        resolve(got);
      }
    });
    socket.on('error', () => {});
  });
}

t.test('stomp+ssl://: STOMP over TLS; a plain STOMP client there gets an ERROR frame saying it is TLS', async (t) => {
  const { urls, ca } = await tlsBroker(t);
  t.match(urls.stomp, /^stomp\+ssl:\/\/127\.0\.0\.1:\d+$/);
  const port = Number(new URL(urls.stomp).port);
  const secure = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(ca) });
  t.teardown(() => secure.destroy());
  secure.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
  t.match(await readUntil(secure, /\0/, 'CONNECTED'), /^CONNECTED\n/, 'CONNECTED over TLS');
  const plain = netConnect({ host: '127.0.0.1', port });
  t.teardown(() => plain.destroy());
  plain.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
  const answer = await readUntil(plain, /\0/, 'an ERROR frame');
  t.match(answer, /^ERROR\n/, 'a STOMP ERROR frame');
  t.match(answer, /speaks TLS: connect with stomp\+ssl:/, 'saying the port speaks TLS');
});

t.test('maximumConnections on an ssl:// connector: the extra client is told so over TLS, not a failed handshake', async (t) => {
  const { urls, ca } = await tlsBroker(t, '?maximumConnections=1');
  const url = urls.ssl;
  const trust = { tls: { ca: readFileSync(ca) } };
  const first = await connect(url, trust);
  t.teardown(() => first.close());
  const extra = await refused(url, trust);
  t.equal((extra as SecurityError).code, 'FERRY_TOO_MANY_CONNECTIONS', `the client reads the refusal (${extra.message})`);
  t.match(extra.message, /maximumConnections=1/, 'naming the limit');
  t.equal(await roundTrip(first, 'queue://tls.max', 10), 10, 'the client inside the limit goes on: 10 sent, 10 received');
  await first.close();
  // The freed slot is taken again (the broker notices the close asynchronously: retried until a deadline).
  const deadline = Date.now() + 10_000;
  let again: Connection | Error = new Error('not tried');
  while (Date.now() < deadline) {
    again = await connect(url, trust).catch((e: unknown) => e as Error);
    if (!(again instanceof Error)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.notOk(again instanceof Error, `a new client connects once the first has left (${again instanceof Error ? again.message : 'ok'})`);
  if (!(again instanceof Error)) await again.close();
});
