// Cross-protocol: STOMP (stompit) producer -> native consumer, and native producer -> STOMP consumer, N each.
import { randomUUID } from 'node:crypto';
import stompit from 'stompit';
import t from 'tap';
import { connect, type Message } from '../../src/index.js';
import { BodyType } from '../../src/protocol/commands.js';
import { packValue, unpackValue } from '../../src/protocol/codec.js';
import { startStompBroker } from '../helpers/broker.js';

const N = 1000;

function stompConnect(port: number): Promise<stompit.Client> {
  return new Promise((resolve, reject) => {
    const connectHeaders = { host: 'localhost', 'heart-beat': '5000,5000' };
    stompit.connect({ host: '127.0.0.1', port, connectHeaders }, (err, client) => (err ? reject(err) : resolve(client)));
  });
}

function stompSend(c: stompit.Client, headers: Record<string, string>, body: Buffer, receipt: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const frame = c.send(headers, receipt ? ({ onReceipt: () => resolve(), onError: reject } as stompit.Client.SendOptions) : undefined);
    frame.end(body);
    if (!receipt) resolve();
  });
}

/** The i-th STOMP message: text, bytes with NULs, JSON (bytes + content-type) or a msgpack value, in turn. */
function stompMessage(i: number, run: string): { headers: Record<string, string>; body: Buffer } {
  const headers: Record<string, string> = {
    destination: '/queue/cross.s2n',
    persistent: 'true',
    priority: String(i % 10),
    'correlation-id': `corr-${i}`,
    'reply-to': '/queue/cross.replies',
    'x-run': run,
    'x-seq': String(i),
    'x-escaped': `a:b\nline-${i}\\end`, // colon, line break and backslash: escaped on the wire by stompit
  };
  switch (i % 4) {
    case 0:
      return { headers: { ...headers, 'content-type': 'text/plain' }, body: Buffer.from(`text ${i} ✓ ${run}`) };
    case 1:
      return { headers: { ...headers, 'content-length': '4' }, body: Buffer.from([i & 0xff, 0, 1, 0]) };
    case 2:
      return { headers: { ...headers, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ i, run })) };
    default:
      return { headers: { ...headers, 'content-type': 'application/x-msgpack' }, body: packValue({ i, run, list: [1, 'two'] }) };
  }
}

t.test(`STOMP producer -> native consumer: ${N} unique messages, headers and bodies preserved`, async (t) => {
  const b = await startStompBroker(t);
  const run = randomUUID();
  const native = await connect(b.url);
  t.teardown(() => native.close());
  const sub = await native.subscribe('queue://cross.s2n', { ack: 'individual' });
  const prod = await stompConnect(b.stompPort);
  for (let i = 0; i < N; i++) {
    const { headers, body } = stompMessage(i, run);
    await stompSend(prod, headers, body, i === N - 1 || i % 100 === 99);
  }
  const got = new Map<number, Message>();
  let dups = 0;
  while (got.size < N) {
    const m = await sub.receive(20_000);
    if (m === null) break;
    m.ack();
    const seq = Number(m.headers['x-seq']);
    if (got.has(seq)) dups++;
    got.set(seq, m);
  }
  t.equal(dups, 0, 'no duplicates');
  t.equal(got.size, N, `all ${N} arrived, each once`);
  let bad = 0;
  for (let i = 0; i < N; i++) {
    const m = got.get(i)!;
    const { body } = stompMessage(i, run);
    const wantBt = [BodyType.Text, BodyType.Bytes, BodyType.Bytes, BodyType.Value][i % 4];
    const ok =
      Buffer.compare(Buffer.from(m.bytes), body) === 0 &&
      m.bodyType === wantBt &&
      m.destination === 'queue://cross.s2n' &&
      m.persistent &&
      m.priority === i % 10 &&
      m.correlationId === `corr-${i}` &&
      m.replyTo === 'queue://cross.replies' &&
      m.headers['x-run'] === run &&
      m.headers['x-escaped'] === `a:b\nline-${i}\\end` &&
      (i % 4 === 2 ? m.headers['content-type'] === 'application/json' : !('content-type' in m.headers)) &&
      !('destination' in m.headers) &&
      !('persistent' in m.headers);
    if (!ok) {
      bad++;
      if (bad < 5) {
        const { id, destination, bodyType, headers, persistent, priority, correlationId, replyTo } = m;
        t.fail(`message ${i} differs: ${JSON.stringify({ id, destination, bodyType, headers, persistent, priority, correlationId, replyTo, bytes: Buffer.from(m.bytes).toString('hex') })}`);
      }
    }
  }
  t.equal(bad, 0, 'every body, body type and header as sent');
  t.same(got.get(3)!.body, { i: 3, run, list: [1, 'two'] }, 'application/x-msgpack arrives as a msgpack value');
  t.equal(got.get(0)!.body, `text 0 ✓ ${run}`, 'text arrives as text');
  await new Promise<void>((resolve) => prod.disconnect(() => resolve()));
});

t.test(`native producer -> STOMP consumer: ${N} unique messages, headers and bodies preserved`, async (t) => {
  const b = await startStompBroker(t);
  const run = randomUUID();
  const native = await connect(b.url);
  t.teardown(() => native.close());
  const bodyOf = (i: number): unknown => (i % 3 === 0 ? `text ${i} ✓ ${run}` : i % 3 === 1 ? Buffer.from([0, i & 0xff, 0]) : { i, run, nested: { ok: true } });
  for (let i = 0; i < N; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, k) =>
        native.send('queue://cross.n2s', bodyOf(i + k), {
          headers: { 'x-run': run, 'x-seq': i + k, flag: true, 'x-line': 'a:b\nc' },
          correlationId: `corr-${i + k}`,
          replyTo: 'topic://cross.replies',
          priority: 4,
        }),
      ),
    );
  }
  const cons = await stompConnect(b.stompPort);
  const got = new Map<number, { headers: Record<string, string>; body: Buffer }>();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${got.size} of ${N}`)), 30_000);
    cons.subscribe({ destination: '/queue/cross.n2s', ack: 'client-individual', 'activemq.prefetchSize': '200' }, (err, m) => {
      if (err) return reject(err);
      const parts: Buffer[] = [];
      m.on('data', (d: Buffer) => parts.push(d));
      m.on('end', () => {
        const headers = (m as unknown as { headers: Record<string, string> }).headers; // stompit has them; its types do not say so
        const seq = Number(headers['x-seq']);
        if (got.has(seq)) return reject(new Error(`x-seq ${seq} twice`));
        got.set(seq, { headers, body: Buffer.concat(parts) });
        cons.ack(m);
        if (got.size === N) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  });
  t.equal(got.size, N, `all ${N} arrived, each once`);
  let bad = 0;
  for (let i = 0; i < N; i++) {
    const { headers: h, body } = got.get(i)!;
    const want = bodyOf(i);
    const bodyOk =
      i % 3 === 0
        ? h['content-type'] === 'text/plain;charset=utf-8' && body.toString('utf8') === want
        : i % 3 === 1
          ? h['content-type'] === undefined && Buffer.compare(body, want as Buffer) === 0
          : h['content-type'] === 'application/x-msgpack' && JSON.stringify(unpackValue(body)) === JSON.stringify(want);
    const ok =
      bodyOk &&
      h['destination'] === '/queue/cross.n2s' &&
      h['persistent'] === 'true' &&
      h['priority'] === '4' &&
      h['correlation-id'] === `corr-${i}` &&
      h['reply-to'] === '/topic/cross.replies' &&
      h['x-run'] === run &&
      h['flag'] === 'true' &&
      h['x-line'] === 'a:b\nc' &&
      String(h['content-length']) === String(body.length) &&
      typeof h['message-id'] === 'string' &&
      h['subscription'] !== undefined;
    if (!ok) {
      bad++;
      if (bad < 5) t.fail(`message ${i} differs: ${JSON.stringify(h)} ${body.toString('hex')}`);
    }
  }
  t.equal(bad, 0, 'every body, content-type and header as sent (non-string header values as strings)');
  await new Promise<void>((resolve) => cons.disconnect(() => resolve()));
  const left = await native.subscribe('queue://cross.n2s');
  await native.send('queue://cross.n2s', 'barrier');
  t.equal((await left.receive(5000))?.text, 'barrier', 'every message acknowledged over STOMP: a later one comes first');
});
