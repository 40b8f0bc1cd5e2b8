import t from 'tap';
import type { BrokerMessage } from '../../src/model/message.js';
import { BodyType } from '../../src/protocol/commands.js';
import { encodeError, encodeFrame, escapeHeader } from '../../src/transport/stomp/encoder.js';
import { MIN_HEARTBEAT_MS, negotiateHeartbeat, parseHeartBeat } from '../../src/transport/stomp/heartbeat.js';
import { bodyTypeOf, brokerDestination, messageFrame, sendInput, stompDestination } from '../../src/transport/stomp/mapping.js';
import { type StompFrame, StompParser, type StompVersion } from '../../src/transport/stomp/parser.js';

function parseOne(buf: Buffer, version: StompVersion = '1.2'): StompFrame {
  const p = new StompParser();
  p.version = version;
  const out: StompFrame[] = [];
  p.push(buf, (f) => out.push(f));
  if (out.length !== 1) throw new Error(`expected one frame, got ${out.length}`);
  return out[0]!;
}

const frame = (command: string, headers: [string, string][], body = ''): StompFrame => ({ command, headers: new Map(headers), body: Buffer.from(body) });

t.test('destinations', async (t) => {
  t.equal(brokerDestination('/queue/orders.eu'), 'queue://orders.eu');
  t.equal(brokerDestination('/topic/PRICE.>'), 'topic://PRICE.>');
  t.equal(brokerDestination('/temp-queue/r1'), 'temp-queue://r1');
  t.throws(() => brokerDestination('orders'), /"orders" is not a destination: expected \/queue\/NAME, \/topic\/NAME or \/temp-queue\/NAME/);
  t.throws(() => brokerDestination('/queue/'), /is not a destination/);
  t.throws(() => brokerDestination('/temp-topic/x'), /temporary topics are not supported/);
  t.equal(stompDestination('queue://a'), '/queue/a');
  t.equal(stompDestination('topic://b.c'), '/topic/b.c');
  t.equal(stompDestination('temp-queue://z'), '/temp-queue/z');
  t.equal(stompDestination('something-else'), 'something-else');
});

t.test('body type from content-type, content-length and amq-msg-type', async (t) => {
  t.equal(bodyTypeOf(undefined, false, undefined), BodyType.Text, 'no content-type, no content-length: text');
  t.equal(bodyTypeOf(undefined, true, undefined), BodyType.Bytes, 'no content-type, content-length: bytes');
  t.equal(bodyTypeOf('text/plain', true, undefined), BodyType.Text);
  t.equal(bodyTypeOf('text/html; charset=UTF-8', true, undefined), BodyType.Text);
  t.equal(bodyTypeOf('text/plain;charset=iso-8859-1', true, undefined), BodyType.Bytes, 'not UTF-8: kept as bytes');
  t.equal(bodyTypeOf('application/json', false, undefined), BodyType.Bytes);
  t.equal(bodyTypeOf('application/x-msgpack', true, undefined), BodyType.Value);
  t.equal(bodyTypeOf('application/json', true, 'text'), BodyType.Text, 'amq-msg-type decides');
  t.equal(bodyTypeOf(undefined, false, 'bytes'), BodyType.Bytes);
  t.throws(() => bodyTypeOf(undefined, false, 'map'), /amq-msg-type "map": expected text or bytes/);
});

t.test('SEND headers -> send input', async (t) => {
  const now = 1_000_000;
  const { input, tx } = sendInput(
    frame('SEND', [
      ['destination', '/queue/a'],
      ['persistent', 'true'],
      ['priority', '7'],
      ['expires', String(now + 5000)],
      ['reply-to', '/temp-queue/replies'],
      ['correlation-id', 'c-1'],
      ['transaction', 'tx1'],
      ['receipt', 'r1'],
      ['content-type', 'application/json'],
      ['content-length', '2'],
      ['message-id', 'stale'],
      ['color', 'red'],
      ['__proto__', 'odd'],
    ], '{}'),
    now,
  );
  t.equal(tx, 'tx1');
  t.equal(input.dest, 'queue://a');
  t.equal(input.bt, BodyType.Bytes);
  t.equal(input.persistent, true);
  t.equal(input.priority, 7);
  t.equal(input.ttl, 5000, 'expires is absolute: ttl = expires - now');
  t.equal(input.replyTo, 'temp-queue://replies');
  t.equal(input.correlationId, 'c-1');
  t.same(Object.entries(input.headers!), [['color', 'red'], ['__proto__', 'odd'], ['content-type', 'application/json']], 'consumed headers removed; content-type kept when it says more than the body type');
  const plain = sendInput(frame('SEND', [['destination', '/topic/t'], ['persistent', 'yes'], ['content-type', 'text/plain']], 'x'), now).input;
  t.equal(plain.persistent, false, 'only "true" is persistent');
  t.equal(plain.bt, BodyType.Text);
  t.equal(plain.headers, undefined, 'text/plain is implied by the text body type');
  t.equal(plain.ttl, undefined);
  t.equal(sendInput(frame('SEND', [['destination', '/queue/a'], ['expires', '0']]), now).input.ttl, undefined, 'expires 0: never');
  t.equal(sendInput(frame('SEND', [['destination', '/queue/a'], ['expires', String(now - 10)]]), now).input.ttl, 1, 'already past: expires at once');
  t.equal(sendInput(frame('SEND', [['destination', '/queue/a'], ['reply-to', 'queue://native']]), now).input.replyTo, 'queue://native');
  t.throws(() => sendInput(frame('SEND', [['destination', '/queue/a'], ['priority', '10']]), now), /SEND: invalid priority "10": expected an integer 0\.\.9/);
  t.throws(() => sendInput(frame('SEND', [['destination', '/queue/a'], ['expires', 'soon']]), now), /invalid expires "soon"/);
  t.throws(() => sendInput(frame('SEND', [['persistent', 'true']]), now), /SEND frame has no destination header/);
});

const msg = (over: Partial<BrokerMessage> = {}): BrokerMessage => ({
  seq: 1,
  id: 'ID:b:1',
  dest: 'queue://a',
  body: Buffer.from('hi'),
  bt: BodyType.Text,
  persistent: true,
  priority: 4,
  timestamp: 123,
  expires: 0,
  deliveryCount: 1,
  ...over,
});

t.test('MESSAGE frames', async (t) => {
  const f = parseOne(messageFrame('s1', msg({ headers: { color: 'red', n: 3, ok: true, gone: null, 'a:b': 'x\ny' }, correlationId: 'c', replyTo: 'queue://r' }), '5-1', '1.2'));
  t.equal(f.command, 'MESSAGE');
  t.same(Object.fromEntries(f.headers), {
    subscription: 's1',
    'message-id': 'ID:b:1',
    destination: '/queue/a',
    ack: '5-1',
    'content-type': 'text/plain;charset=utf-8',
    persistent: 'true',
    priority: '4',
    timestamp: '123',
    expires: '0',
    'correlation-id': 'c',
    'reply-to': '/queue/r',
    color: 'red',
    n: '3',
    ok: 'true',
    'a:b': 'x\ny',
    'content-length': '2',
  });
  t.equal(f.body.toString(), 'hi');
  const v = parseOne(messageFrame('s', msg({ bt: BodyType.Value, body: Buffer.from([0x93, 1, 2, 3]), deliveryCount: 2, persistent: false }), undefined, '1.1'), '1.1');
  t.equal(v.headers.get('content-type'), 'application/x-msgpack');
  t.equal(v.headers.get('redelivered'), 'true');
  t.notOk(v.headers.has('persistent'));
  t.notOk(v.headers.has('ack'));
  const b = parseOne(messageFrame('s', msg({ bt: BodyType.Bytes, body: Buffer.from([0, 1, 0]), headers: { 'content-type': 'application/json' } }), undefined, '1.2'));
  t.equal(b.headers.get('content-type'), 'application/json', 'a stored content-type wins');
  t.same([...b.body], [0, 1, 0]);
  t.notOk(parseOne(messageFrame('s', msg({ bt: BodyType.Bytes }), undefined, '1.2')).headers.has('content-type'), 'bytes: no content-type');
  const old = parseOne(messageFrame('s', msg({ headers: { 'a:b': 'v', multi: 'l1\nl2' } }), undefined, '1.0'), '1.0');
  t.notOk(old.headers.has('a'), '1.0 cannot carry a name with a colon: left out');
  t.equal(old.headers.get('multi'), 'l1 l2', '1.0 cannot carry a line break: a space instead');
});

t.test('escaping and encoding', async (t) => {
  t.equal(escapeHeader('a:b\\c\nd\re', '1.2'), 'a\\cb\\\\c\\nd\\re');
  t.equal(escapeHeader('a:b\\c\nd\re', '1.1'), 'a\\cb\\\\c\\nd\re');
  t.equal(escapeHeader('a:b\\c\nd', '1.0'), 'a:b\\c d');
  t.equal(escapeHeader('a:b', null), 'a:b');
  t.equal(encodeFrame('RECEIPT', [['receipt-id', 'x:1']], null, '1.2').toString(), 'RECEIPT\nreceipt-id:x\\c1\n\n\0');
  t.equal(encodeFrame('CONNECTED', [['session', 'a:b']], null, null).toString(), 'CONNECTED\nsession:a:b\n\n\0');
  const e = parseOne(encodeError('bad\nthing', '1.2', [['receipt-id', '7']]));
  t.equal(e.headers.get('message'), 'bad thing', 'the message header is one line');
  t.equal(e.headers.get('receipt-id'), '7');
  t.equal(e.body.toString(), 'bad\nthing\n');
});

t.test('heart-beat parsing and negotiation', async (t) => {
  t.same(parseHeartBeat('0,0'), [0, 0]);
  t.same(parseHeartBeat(' 1000 , 2000 '), [1000, 2000]);
  for (const bad of ['', '1000', '1,2,3', '-1,0', 'a,b', '1.5,2', '99999999999,0', '1;2']) t.equal(parseHeartBeat(bad), null, `refused: ${JSON.stringify(bad)}`);
  // Broker D = 30000: asks the client for one every 10000, tolerates 30000 of silence.
  t.same(negotiateHeartbeat([5000, 4000], 30000), { header: '4000,10000', sendEveryMs: 4000, readTimeoutMs: 30000, clientSendsMs: 5000 });
  t.same(negotiateHeartbeat(null, 30000), { header: '0,10000', sendEveryMs: 0, readTimeoutMs: 0, clientSendsMs: 0 }, 'no heart-beat offered: not timed out for silence (as ActiveMQ)');
  t.same(negotiateHeartbeat([0, 10], 0), { header: `${MIN_HEARTBEAT_MS},0`, sendEveryMs: MIN_HEARTBEAT_MS, readTimeoutMs: 0, clientSendsMs: 0 }, 'floor on what we send; D=0 disables');
  t.same(negotiateHeartbeat([60000, 0], 30000).readTimeoutMs, 120000, 'a client heart-beating slower than D gets twice its own period');
  t.equal(negotiateHeartbeat([1000, 1000], 150).header, `1000,${MIN_HEARTBEAT_MS}`);
});
