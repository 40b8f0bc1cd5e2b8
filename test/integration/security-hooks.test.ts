/**
 * The broker's authenticate and authorize hooks, on an embedded node with a native and a STOMP connector: credentials
 * of either protocol reach authenticate; a refused CONNECT closes with FERRY_AUTHENTICATION_FAILED; a refused
 * operation is answered with FERRY_NOT_AUTHORIZED and (native) the connection lives on.
 */
import { connect as netConnect, type Socket } from 'node:net';
import t from 'tap';
import { connect, FerryNode, parseConfig, SecurityError } from '../../src/index.js';
import type { AuthorizeAction, Credentials, Principal } from '../../src/broker/hooks.js';
import { silentLogger } from '../../src/log.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { encodeFrame as frame } from '../../src/protocol/codec.js';
import { encodeFrame } from '../../src/transport/stomp/encoder.js';
import { type StompFrame, StompParser } from '../../src/transport/stomp/parser.js';
import type { Teardown } from '../helpers/broker.js';
import { RawPeer } from '../helpers/raw.js';

/** A native and a STOMP connector on port 0, memory store; no web console (its default 8161 may be another test's). */
async function embedded(t: Teardown): Promise<{ node: FerryNode; url: string; stompPort: number }> {
  const xml = `<broker brokerName="sec"><webConsole enabled="false"/><transportConnectors>
    <transportConnector name="openwire" uri="tcp://127.0.0.1:0"/>
    <transportConnector name="stomp" uri="stomp://127.0.0.1:0"/>
  </transportConnectors></broker>`;
  const { config } = parseConfig(xml);
  const node = new FerryNode(config, silentLogger(), new MemoryStore());
  await node.start();
  t.teardown(() => node.stop());
  return { node, url: node.connectors[0]!.url, stompPort: node.connectors[1]!.port };
}

/** A raw STOMP 1.2 peer. */
class Stomp {
  readonly frames: StompFrame[] = [];
  closed = false;
  private readonly parser = new StompParser();
  private constructor(private readonly socket: Socket) {
    socket.on('data', (c: Buffer) =>
      this.parser.push(c, (f) => {
        if (f.command === 'CONNECTED') this.parser.version = '1.2'; // header values are escaped from here on
        this.frames.push(f);
      }),
    );
    socket.on('error', () => {});
    socket.on('close', () => (this.closed = true));
  }

  static open(t: Teardown, port: number): Promise<Stomp> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port }, () => resolve(new Stomp(s)));
      s.once('error', reject);
      t.teardown(() => s.destroy());
    });
  }

  send(command: string, headers: Record<string, string>, body: string | null = null): void {
    this.socket.write(encodeFrame(command, Object.entries(headers), body === null ? null : Buffer.from(body), command === 'CONNECT' ? null : '1.2'));
  }

  async waitFor(pred: (f: StompFrame) => boolean, what: string, timeoutMs = 5000): Promise<StompFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.frames.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; got ${this.frames.map((f) => f.command).join(',')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async waitClosed(what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`connection not closed within ${timeoutMs} ms: ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Users and what they may do: alice sends to queue://ok.* and reads topics; bob may do nothing at all. */
const USERS: Record<string, { password: string; groups: string[] }> = {
  alice: { password: 'secret', groups: ['writers'] },
  bob: { password: 'hunter2', groups: [] },
};

function installHooks(node: FerryNode): { logins: Credentials[]; asked: [string | null, AuthorizeAction, string | null][] } {
  const logins: Credentials[] = [];
  const asked: [string | null, AuthorizeAction, string | null][] = [];
  node.broker.setHooks({
    // Asynchronous, as a real directory lookup would be.
    authenticate: async (c) => {
      logins.push(c);
      await new Promise((r) => setTimeout(r, 20));
      const u = c.user === undefined ? undefined : USERS[c.user];
      if (u === undefined || u.password !== c.password) return false;
      return { user: c.user!, groups: u.groups };
    },
    authorize: (p: Principal, action, dest) => {
      asked.push([p.user, action, dest]);
      const groups = p['groups'] as string[];
      if (!groups.includes('writers')) return false;
      if (action === 'send' || action === 'create') return dest !== null && dest.startsWith('queue://ok.');
      if (action === 'subscribe' || action === 'browse' || action === 'stats') return true;
      return false; // purge, delete
    },
  });
  return { logins, asked };
}

t.test('native: credentials reach authenticate; a refusal is FERRY_AUTHENTICATION_FAILED and is not retried', async (t) => {
  const { node, url } = await embedded(t);
  const { logins } = installHooks(node);
  const wrong = await connect(url, { user: 'alice', password: 'nope' }).then(
    () => null,
    (e: unknown) => e,
  );
  t.type(wrong, SecurityError, 'a wrong password rejects with SecurityError');
  t.equal((wrong as SecurityError).code, 'FERRY_AUTHENTICATION_FAILED');
  t.match((wrong as Error).message, /authentication failed for user alice/);
  // A failover URL would retry forever on other errors; refused credentials end the dial at once.
  const before = logins.length;
  const t0 = Date.now();
  const failover = await connect(`failover:(${url})`, { user: 'bob', password: 'nope' }).then(
    () => null,
    (e: unknown) => e,
  );
  t.equal((failover as SecurityError).code, 'FERRY_AUTHENTICATION_FAILED', 'failover: the refusal reaches the app');
  t.equal(logins.length - before, 1, `one attempt only (${Date.now() - t0} ms)`);
  const anonymous = await connect(url).then(
    () => null,
    (e: unknown) => e,
  );
  t.equal((anonymous as SecurityError).code, 'FERRY_AUTHENTICATION_FAILED', 'no credentials: refused too');
  const c = await connect(url, { user: 'alice', password: 'secret', clientId: 'alice-app' });
  t.teardown(() => c.close());
  const seen = logins[logins.length - 1]!;
  t.match(seen, { user: 'alice', password: 'secret', clientId: 'alice-app', protocol: 'native' }, 'the hook saw the CONNECT fields');
  t.match(seen.remote, /^127\.0\.0\.1:\d+$/, 'and the peer address');
  await c.send('queue://ok.a', 'x');
  t.pass('an authenticated client works');
});

t.test('native: frames sent right behind CONNECT wait for an asynchronous authenticate, in order', async (t) => {
  const { node, url } = await embedded(t);
  installHooks(node);
  const p = await RawPeer.open(Number(new URL(url).port));
  t.teardown(() => p.destroy());
  // One write: CONNECT, two receipted sends, DISCONNECT; the hook answers 20 ms later.
  p.write(
    Buffer.concat([
      frame({ t: 'CONNECT', v: [1], user: 'alice', password: 'secret' }),
      frame({ t: 'SEND', dest: 'queue://ok.early', body: Buffer.from('1'), rid: 1 }),
      frame({ t: 'SEND', dest: 'queue://ok.early', body: Buffer.from('2'), rid: 2 }),
      frame({ t: 'DISCONNECT', rid: 3 }),
    ]),
  );
  await p.waitFor((c) => c['rid'] === 3, 'DISCONNECT receipt');
  t.same(
    p.received.map((c) => (c['t'] === 'RECEIPT' ? `RECEIPT ${c['rid']}` : c['t'])),
    ['CONNECTED', 'RECEIPT 1', 'RECEIPT 2', 'RECEIPT 3'],
    'CONNECTED first, then every answer in order',
  );
  const c = await connect(url, { user: 'alice', password: 'secret' });
  t.teardown(() => c.close());
  t.equal((await c.browse('queue://ok.early')).length, 2, 'both sends stored');
});

t.test('native: a refused operation answers its request with FERRY_NOT_AUTHORIZED; the connection lives on', async (t) => {
  const { node, url } = await embedded(t);
  const { asked } = installHooks(node);
  const c = await connect(url, { user: 'alice', password: 'secret' });
  t.teardown(() => c.close());
  const refused = async (p: Promise<unknown>, what: string, pattern: RegExp): Promise<void> => {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    t.type(e, SecurityError, `${what}: SecurityError`);
    t.equal((e as SecurityError).code, 'FERRY_NOT_AUTHORIZED', `${what}: FERRY_NOT_AUTHORIZED`);
    t.match((e as Error).message, pattern, `${what}: the message names user, action and destination`);
  };
  await refused(c.send('queue://secret', 'x'), 'send', /user alice may not send queue:\/\/secret/);
  // A non-persistent send has no receipt to refuse: the refusal arrives as an error event.
  const event = new Promise<unknown>((resolve) => c.once('error', resolve));
  await c.send('queue://secret', 'x', { persistent: false });
  await refused(event.then((e) => Promise.reject(e)), 'non-persistent send', /may not send queue:\/\/secret/);
  await refused(c.purge('queue://ok.a'), 'purge', /may not purge queue:\/\/ok\.a/);
  await refused(c.deleteDestination('queue://ok.a'), 'delete', /may not delete queue:\/\/ok\.a/);
  const tx = await c.begin();
  await refused(tx.send('queue://secret', 'in a transaction'), 'send in a transaction', /may not send/);
  await tx.abort();
  // The connection is fine: what is allowed works.
  await c.send('queue://ok.a', 'allowed');
  const sub = await c.subscribe('queue://ok.a');
  t.equal((await sub.receive(5000))?.text, 'allowed', 'an allowed send and subscribe work on the same connection');
  t.ok((await c.stats()).some((s) => s.name === 'queue://ok.a'), 'stats allowed');
  t.equal((await c.browse('queue://ok.a')).length, 0, 'browse allowed');
  t.match(asked, [['alice', 'send', 'queue://secret']], 'the hook got principal, action and canonical destination');
  t.ok(asked.some(([, a, d]) => a === 'stats' && d === null), 'stats is asked with no destination');

  const b = await connect(url, { user: 'bob', password: 'hunter2' });
  t.teardown(() => b.close());
  await refused(b.subscribe('topic://news'), 'subscribe', /user bob may not subscribe topic:\/\/news/);
  await refused(b.stats(), 'stats', /user bob may not stats/);
  await refused(b.browse('queue://ok.a'), 'browse', /may not browse queue:\/\/ok\.a/);
  t.ok(asked.some(([u, a]) => u === 'bob' && a === 'subscribe'), 'bob was asked about too');
});

t.test('STOMP: login/passcode reach authenticate; refusals are ERROR frames', async (t) => {
  const { node, stompPort } = await embedded(t);
  const { logins, asked } = installHooks(node);
  const bad = await Stomp.open(t, stompPort);
  bad.send('CONNECT', { 'accept-version': '1.2', host: 'x', login: 'alice', passcode: 'wrong' });
  const err = await bad.waitFor((f) => f.command === 'ERROR', 'ERROR for a wrong passcode');
  t.match(err.headers.get('message'), /authentication failed for user alice/);
  await bad.waitClosed('after the refused CONNECT');
  t.match(logins[0], { user: 'alice', password: 'wrong', protocol: 'stomp' }, 'the hook saw login and passcode');

  const good = await Stomp.open(t, stompPort);
  good.send('CONNECT', { 'accept-version': '1.2', host: 'x', login: 'alice', passcode: 'secret', 'client-id': 'stomp-alice' });
  // Sent at once, before CONNECTED: it waits for the asynchronous hook.
  good.send('SEND', { destination: '/queue/ok.stomp', receipt: 'r1' }, 'hello');
  await good.waitFor((f) => f.command === 'RECEIPT' && f.headers.get('receipt-id') === 'r1', 'receipt of an allowed send');
  t.equal(good.frames[0]!.command, 'CONNECTED', 'CONNECTED came first');
  t.match(logins[1], { user: 'alice', clientId: 'stomp-alice', protocol: 'stomp' });
  good.send('SEND', { destination: '/queue/secret', receipt: 'r2' }, 'no');
  const denied = await good.waitFor((f) => f.command === 'ERROR', 'ERROR for a refused send');
  t.equal(denied.headers.get('receipt-id'), 'r2', 'the ERROR names the refused frame');
  t.match(denied.headers.get('message'), /user alice may not send queue:\/\/secret/);
  t.ok(asked.some(([u, a, d]) => u === 'alice' && a === 'send' && d === 'queue://secret'), 'asked with the canonical destination');
});
