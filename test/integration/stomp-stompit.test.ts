// Interop with stompit (npm), a STOMP client nobody here wrote: it negotiates 1.2 and acks by the MESSAGE's ack id.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import stompit from 'stompit';
import t from 'tap';
import { connect } from '../../src/index.js';
import { startStompBroker, tempDir } from '../helpers/broker.js';

type Client = stompit.Client;
type Msg = { headers: Record<string, string>; body: Buffer; raw: stompit.Client.Message };

function stompConnect(port: number, headers: Record<string, string> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const connectHeaders = { host: 'localhost', login: 'guest', passcode: 'guest', 'heart-beat': '5000,5000', ...headers };
    stompit.connect({ host: '127.0.0.1', port, connectHeaders } as stompit.connect.ConnectOptions, (err, client) => (err ? reject(err) : resolve(client)));
  });
}

/** SEND with a receipt: resolves once the broker has the message. */
function send(c: Client, headers: Record<string, string>, body: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const frame = c.send(headers, { onReceipt: () => resolve(), onError: reject } as stompit.Client.SendOptions);
    frame.write(body);
    frame.end();
  });
}

/** A receipted round trip: every frame this client sent before it (a SUBSCRIBE, say) has been processed. */
const sync = (c: Client): Promise<void> => send(c, { destination: '/queue/it.sync' }, '');

function readBody(m: stompit.Client.Message): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    m.on('data', (d: Buffer) => parts.push(d));
    m.on('end', () => resolve(Buffer.concat(parts)));
    m.on('error', reject);
  });
}

/** Messages of one subscription as they arrive; `onMessage` may ack or nack them. */
class Inbox {
  readonly msgs: Msg[] = [];
  private waiters: (() => void)[] = [];
  readonly sub: ReturnType<Client['subscribe']>;

  constructor(c: Client, headers: Record<string, string>, onMessage?: (m: Msg, inbox: Inbox) => void) {
    this.sub = c.subscribe(headers, (err, raw) => {
      if (err) return;
      void readBody(raw).then((body) => {
        const m = { headers: (raw as unknown as { headers: Record<string, string> }).headers, body, raw };
        this.msgs.push(m);
        onMessage?.(m, this);
        for (const w of this.waiters.splice(0)) w();
      });
    });
  }

  async wait(count: number, timeoutMs = 20_000): Promise<Msg[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.msgs.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`got ${this.msgs.length} of ${count} messages`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, Math.min(left, 200));
        this.waiters.push(() => (clearTimeout(timer), r()));
      });
    }
    return this.msgs;
  }
}

function disconnect(c: Client): Promise<void> {
  return new Promise((resolve, reject) => c.disconnect((err) => (err ? reject(err) : resolve())));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('stompit: send, subscribe, client-individual acks; N unique messages, none left over', async (t) => {
  const b = await startStompBroker(t);
  const n = 1000;
  const run = randomUUID();
  const prod = await stompConnect(b.stompPort);
  const sent: string[] = [];
  for (let i = 0; i < n; i++) {
    const body = `work-${i}-${run}`;
    sent.push(body);
    const frame = prod.send({ destination: '/queue/it.work', persistent: 'true', 'x-seq': String(i) });
    frame.end(body);
  }
  await send(prod, { destination: '/queue/it.work', persistent: 'true', 'x-seq': 'last' }, 'the end');
  const cons = await stompConnect(b.stompPort);
  const inbox = new Inbox(cons, { destination: '/queue/it.work', ack: 'client-individual', 'activemq.prefetchSize': '50' }, (m) => cons.ack(m.raw));
  const got = await inbox.wait(n + 1);
  const bodies = got.map((m) => m.body.toString());
  t.equal(new Set(bodies).size, n + 1, 'all unique');
  t.same(bodies.slice(0, n), sent, 'all N, in order (prefetch 50 fills and drains)');
  t.ok(got.every((m, i) => m.headers['x-seq'] === (i < n ? String(i) : 'last') && m.headers['persistent'] === 'true'), 'headers preserved');
  await disconnect(cons);
  const check = await stompConnect(b.stompPort);
  const rest = new Inbox(check, { destination: '/queue/it.work' });
  await sync(check);
  await sleep(300);
  t.equal(rest.msgs.length, 0, 'every message acknowledged: nothing redelivered');
  await disconnect(check);
  await disconnect(prod);
});

t.test('stompit: NACK redelivers (redelivered:true); client mode ACK is cumulative', async (t) => {
  const b = await startStompBroker(t);
  const c = await stompConnect(b.stompPort);
  for (const body of ['a', 'b', 'c']) await send(c, { destination: '/queue/it.nack' }, body);
  const inbox = new Inbox(c, { destination: '/queue/it.nack', ack: 'client-individual' }, (m, box) => {
    if (m.body.toString() === 'a' && box.msgs.filter((x) => x.body.toString() === 'a').length === 1) c.nack(m.raw);
    else c.ack(m.raw);
  });
  const got = await inbox.wait(4);
  const a = got.filter((m) => m.body.toString() === 'a');
  t.equal(a.length, 2, 'the NACKed message came back');
  t.equal(a[1]!.headers['redelivered'], 'true');
  t.notOk(a[0]!.headers['redelivered']);
  inbox.sub.unsubscribe();

  for (const body of ['x1', 'x2', 'x3']) await send(c, { destination: '/queue/it.cumulative' }, body);
  const cum = new Inbox(c, { destination: '/queue/it.cumulative', ack: 'client' });
  const three = await cum.wait(3);
  await new Promise<void>((resolve) => c.ack(three[1]!.raw, {}, { onReceipt: resolve } as stompit.Client.SendOptions));
  await disconnect(c); // x3 was never acked: it goes back
  const c2 = await stompConnect(b.stompPort);
  const left = new Inbox(c2, { destination: '/queue/it.cumulative' });
  const after = await left.wait(1);
  await sleep(300);
  t.same(after.map((m) => m.body.toString()), ['x3'], 'ACK of x2 in client mode acknowledged x1 and x2');
  await disconnect(c2);
});

t.test('stompit: transactions: ABORT drops sends, COMMIT delivers them; acks in an aborted transaction come back', async (t) => {
  const b = await startStompBroker(t);
  const c = await stompConnect(b.stompPort);
  const tx1 = c.begin();
  for (let i = 0; i < 5; i++) tx1.send({ destination: '/queue/it.tx' }).end(`aborted-${i}`);
  tx1.abort();
  const tx2 = c.begin();
  for (let i = 0; i < 5; i++) tx2.send({ destination: '/queue/it.tx' }).end(`committed-${i}`);
  await new Promise<void>((resolve) => tx2.commit({ onReceipt: resolve } as stompit.Client.SendOptions));
  const cons = await stompConnect(b.stompPort);
  const inbox = new Inbox(cons, { destination: '/queue/it.tx', ack: 'client-individual' });
  const got = await inbox.wait(5);
  await sleep(300);
  t.same(got.map((m) => m.body.toString()), [0, 1, 2, 3, 4].map((i) => `committed-${i}`), 'only the committed sends arrive');
  const tx3 = cons.begin('acks-1');
  for (const m of got) cons.ack(m.raw, { transaction: 'acks-1' });
  await new Promise<void>((resolve) => tx3.abort({ onReceipt: resolve } as stompit.Client.SendOptions));
  await inbox.wait(10);
  t.ok(inbox.msgs.slice(5).every((m) => m.headers['redelivered'] === 'true'), 'acks rolled back: all five redelivered');
  const tx4 = cons.begin('acks-2');
  for (const m of inbox.msgs.slice(5)) cons.ack(m.raw, { transaction: 'acks-2' });
  await new Promise<void>((resolve) => tx4.commit({ onReceipt: resolve } as stompit.Client.SendOptions));
  await disconnect(cons);
  const check = await stompConnect(b.stompPort);
  const rest = new Inbox(check, { destination: '/queue/it.tx' });
  await sync(check);
  await sleep(300);
  t.equal(rest.msgs.length, 0, 'committed acks are final');
  await disconnect(check);
  await disconnect(c);
});

t.test('stompit: durable subscription (client-id + activemq.subscriptionName), then removed by UNSUBSCRIBE', async (t) => {
  const b = await startStompBroker(t);
  const durable = { destination: '/topic/it.events', 'activemq.subscriptionName': 'audit', ack: 'client-individual' };
  const s1 = await stompConnect(b.stompPort, { 'client-id': 'auditor' });
  const first = new Inbox(s1, { ...durable }, (m) => s1.ack(m.raw));
  await sync(s1);
  const pub = await stompConnect(b.stompPort);
  await send(pub, { destination: '/topic/it.events', persistent: 'true' }, 'while-online');
  await first.wait(1);
  await disconnect(s1);
  for (let i = 0; i < 20; i++) await send(pub, { destination: '/topic/it.events', persistent: 'true' }, `offline-${i}`);
  const s2 = await stompConnect(b.stompPort, { 'client-id': 'auditor' });
  const back = new Inbox(s2, { ...durable }, (m) => s2.ack(m.raw));
  const got = await back.wait(20);
  t.same(got.map((m) => m.body.toString()), Array.from({ length: 20 }, (_, i) => `offline-${i}`), 'messages published while away wait for the durable subscriber');
  t.equal(got[0]!.headers['destination'], '/topic/it.events');
  await new Promise<void>((resolve) =>
    s2.sendFrame('UNSUBSCRIBE', { id: String(back.sub.getId()), 'activemq.subscriptionName': 'audit' }, { onReceipt: resolve } as stompit.Client.SendOptions).end(),
  );
  await disconnect(s2);
  await send(pub, { destination: '/topic/it.events', persistent: 'true' }, 'after-removal');
  const s3 = await stompConnect(b.stompPort, { 'client-id': 'auditor' });
  const fresh = new Inbox(s3, { ...durable });
  await sync(s3);
  await sleep(300);
  t.equal(fresh.msgs.length, 0, 'the removed subscription kept nothing; a new one starts empty');
  await disconnect(s3);
  await disconnect(pub);
});

t.test('stompit: ack:auto with prefetch 1 flows (acked once written); nothing comes back', async (t) => {
  const b = await startStompBroker(t);
  const c = await stompConnect(b.stompPort);
  for (let i = 0; i < 300; i++) c.send({ destination: '/queue/it.auto' }).end(`auto-${i}`);
  await sync(c);
  const inbox = new Inbox(c, { destination: '/queue/it.auto', 'activemq.prefetchSize': '1' });
  const got = await inbox.wait(300);
  t.same(got.map((m) => m.body.toString()), Array.from({ length: 300 }, (_, i) => `auto-${i}`));
  t.ok(got.every((m) => m.headers['ack'] === undefined), 'no ack header in auto mode');
  await disconnect(c);
  const c2 = await stompConnect(b.stompPort);
  const rest = new Inbox(c2, { destination: '/queue/it.auto' });
  await sync(c2);
  await sleep(300);
  t.equal(rest.msgs.length, 0);
  await disconnect(c2);
});

t.test('stompit: request/reply over /temp-queue/, and expires', async (t) => {
  const b = await startStompBroker(t);
  const requester = await stompConnect(b.stompPort);
  const replies = new Inbox(requester, { destination: '/temp-queue/replies-1' });
  await sync(requester);
  const server = await stompConnect(b.stompPort);
  new Inbox(server, { destination: '/queue/it.service' }, (m) => {
    server.send({ destination: m.headers['reply-to']!, 'correlation-id': m.headers['correlation-id']! }).end(`re: ${m.body}`);
  });
  await sync(server);
  await send(requester, { destination: '/queue/it.service', 'reply-to': '/temp-queue/replies-1', 'correlation-id': 'q1' }, 'ping');
  const [reply] = await replies.wait(1);
  t.equal(reply!.body.toString(), 're: ping');
  t.equal(reply!.headers['correlation-id'], 'q1');
  t.equal(reply!.headers['destination'], '/temp-queue/replies-1');

  await send(requester, { destination: '/queue/it.expiring', expires: String(Date.now() + 50) }, 'short');
  await send(requester, { destination: '/queue/it.expiring', expires: String(Date.now() + 60_000) }, 'long');
  await sleep(150);
  const later = new Inbox(requester, { destination: '/queue/it.expiring' });
  const [m] = await later.wait(1);
  await sleep(200);
  t.same(later.msgs.map((x) => x.body.toString()), ['long'], 'an expired message is not delivered');
  t.ok(Math.abs(Number(m!.headers['expires']) - (Date.now() + 60_000)) < 5000, 'expires is given back as absolute time');
  await disconnect(server);
  await disconnect(requester);
});

t.test('stompit: producer flow control holds non-persistent sends at the memory limit (the socket is not read)', async (t) => {
  const dir = tempDir(t);
  const conf = join(dir, 'flow.xml');
  writeFileSync(conf, '<broker brokerName="flow"><systemUsage><systemUsage><memoryUsage><memoryUsage limit="1 mb"/></memoryUsage></systemUsage></systemUsage></broker>');
  const b = await startStompBroker(t, { dataDir: dir, args: ['--conf', conf] });
  const p = await stompConnect(b.stompPort);
  const body = Buffer.alloc(10 * 1024, 7);
  for (let i = 0; i < 299; i++) p.send({ destination: '/queue/it.flow', 'x-i': String(i) }).end(body);
  let done = false;
  const last = send(p, { destination: '/queue/it.flow', 'x-i': '299' }, body).then(() => (done = true));
  await sleep(1000);
  t.notOk(done, 'the 300th send (3 MiB in all, 1 MiB limit) is not through while nobody consumes');
  const native = await connect(b.url);
  t.teardown(() => native.close());
  const q = (await native.stats()).find((s) => s.name === 'queue://it.flow')!;
  t.ok(q.memoryBytes <= 1.5 * 1024 * 1024, `memory held (${q.memoryBytes} bytes) stays near the 1 MiB limit`);
  const c = await stompConnect(b.stompPort);
  const inbox = new Inbox(c, { destination: '/queue/it.flow' });
  const got = await inbox.wait(300);
  await last;
  t.same(got.map((m) => Number(m.headers['x-i'])), Array.from({ length: 300 }, (_, i) => i), 'all 300 delivered, in order, once a consumer drains');
  await disconnect(c);
  await disconnect(p);
});
