/**
 * Fuzzing both wire protocols against a real broker. Every case is one connection: a valid length prefix (native)
 * or a well-delimited frame (STOMP) around varied bodies — every command, wrong field types, extra fields,
 * malformed msgpack — then a DISCONNECT asking for a receipt. Each case must end with the broker closing the
 * connection after an ERROR or a RECEIPT; after them all no error-level line is logged, the connector's
 * connection count is back where it started, and a normal client still round-trips.
 */
import fc from 'fast-check';
import t from 'tap';
import { connect } from '../../src/index.js';
import { encodeFrame } from '../../src/protocol/codec.js';
import { type BrokerProcess, startBroker, startStompBroker } from '../helpers/broker.js';
import { RawPeer } from '../helpers/raw.js';
import { StompPeer } from '../helpers/stomp-peer.js';

const NATIVE_COMMANDS = [
  'CONNECT', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT',
  'PING', 'STATS', 'BROWSE', 'PURGE', 'DELETE', 'PONG', 'TELEPORT',
] as const;
const BARRIER_RID = 4_000_000;

/** Field values: mostly plausible, often of the wrong type. */
const anyValue = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 8 }), fc.array(fc.nat(), { maxLength: 3 }));
const dest = fc.oneof(
  fc.constantFrom('queue://fz.a', 'queue://fz.b', 'topic://fz.t', 'fz.c', '/queue/fz.d', 'topic://fz.>', 'temp-queue://fz', 'queue://', 'bogus://x', ''),
  anyValue,
);
const txId = fc.oneof(fc.constantFrom('tx1', 'tx2'), anyValue);
const small = fc.oneof(fc.nat(5), anyValue);
const headers = fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.boolean(), fc.constant(null), fc.object({ maxDepth: 1 }))), anyValue);

const nativeCommand = fc.record(
  {
    t: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...NATIVE_COMMANDS) }, { weight: 1, arbitrary: anyValue }),
    v: fc.oneof(fc.constant([1]), fc.array(fc.integer(), { maxLength: 3 }), anyValue),
    dest,
    body: fc.oneof({ weight: 3, arbitrary: fc.uint8Array({ maxLength: 32 }) }, { weight: 1, arbitrary: anyValue }),
    bt: fc.oneof(fc.nat(3), anyValue),
    persistent: fc.oneof(fc.boolean(), anyValue),
    pid: fc.oneof(fc.constantFrom('p1', 'p2'), anyValue),
    seq: fc.oneof(fc.nat(5), anyValue),
    rid: fc.oneof({ weight: 3, arbitrary: fc.nat(1000) }, { weight: 1, arbitrary: anyValue }),
    sid: small,
    tag: small,
    upto: fc.oneof(fc.boolean(), anyValue),
    ack: fc.oneof(fc.constantFrom('auto', 'client', 'individual', 'bogus'), anyValue),
    prefetch: fc.oneof(fc.integer({ min: -1, max: 3 }), anyValue),
    selector: fc.oneof(fc.constantFrom("color = 'red'", 'a >', 'JMSPriority > 3', ''), anyValue),
    durable: fc.oneof(fc.constantFrom('d1'), anyValue),
    tx: txId,
    headers,
    priority: fc.oneof(fc.integer({ min: -1, max: 10 }), anyValue),
    ttl: fc.oneof(fc.integer({ min: -1, max: 100 }), anyValue),
    clientId: fc.oneof(fc.constantFrom('fz-client'), anyValue),
    heartbeat: fc.oneof(fc.integer({ min: -1, max: 60_000 }), anyValue),
    max: fc.oneof(fc.integer({ min: -1, max: 5 }), anyValue),
    correlationId: anyValue,
    replyTo: dest,
    extra: anyValue, // a field no command has
  },
  { requiredKeys: ['t'] },
);

function lengthPrefixed(body: Uint8Array): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, body]);
}

type NativeFrame = { kind: string; bytes: Buffer };
/** One frame, always with a length prefix that matches its body. */
const nativeFrame: fc.Arbitrary<NativeFrame> = fc.oneof(
  { weight: 12, arbitrary: nativeCommand.map((c) => ({ kind: `cmd:${typeof c['t'] === 'string' ? c['t'] : 'bad-t'}`, bytes: Buffer.from(encodeFrame(c)) })) },
  // Malformed msgpack: random bytes, a truncated value, trailing bytes, a value that is not a map, nothing at all.
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => ({ kind: 'random-bytes', bytes: lengthPrefixed(b) })) },
  {
    weight: 1,
    arbitrary: fc.tuple(nativeCommand, fc.nat()).map(([c, n]) => {
      const body = Buffer.from(encodeFrame(c)).subarray(4);
      return { kind: 'truncated-value', bytes: lengthPrefixed(body.subarray(0, n % body.length)) };
    }),
  },
  { weight: 1, arbitrary: nativeCommand.map((c) => ({ kind: 'trailing-bytes', bytes: lengthPrefixed(Buffer.concat([Buffer.from(encodeFrame(c)).subarray(4), Buffer.from([0xc0])])) })) },
  { weight: 1, arbitrary: fc.oneof(fc.array(fc.nat()), fc.string(), fc.integer()).map((v) => ({ kind: 'not-a-map', bytes: Buffer.from(encodeFrame(v as object)) })) },
  { weight: 1, arbitrary: fc.constantFrom(...[0xc1, 0xd4, 0xc7].map((x) => ({ kind: 'bad-msgpack-type', bytes: lengthPrefixed(Buffer.from([x, 0, 0, 0])) }))) },
  { weight: 1, arbitrary: fc.constant({ kind: 'zero-length', bytes: Buffer.alloc(4) }) },
);

/** Whether a connector accepts `n` more connections at once (each gets CONNECTED); retried until `deadlineMs`. */
async function acceptsMore(open: () => Promise<{ destroy(): void; ok: boolean }>, n: number, what: string, deadlineMs = 5000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const peers = await Promise.all(Array.from({ length: n }, open));
    const ok = peers.every((p) => p.ok);
    for (const p of peers) p.destroy();
    if (ok) return;
    // The broker notices a closed socket asynchronously: a slot freed a moment ago may not be free yet.
    if (Date.now() > until) throw new Error(`${what}: ${n} more connections were not accepted within ${deadlineMs} ms (connections leaked)`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A case's connection. A refusal at maximumConnections is retried for up to 5 s: the broker may not have processed
 * the previous cases' closes yet. Leaked connections never free their slot, so a leak still fails here.
 */
async function withSlot<P>(what: string, attempt: () => Promise<{ peer: P; refused: string | null }>): Promise<P> {
  const until = Date.now() + 5000;
  for (;;) {
    const { peer, refused } = await attempt();
    if (refused === null) return peer;
    if (Date.now() > until) throw new Error(`${what}: refused for 5 s (connections leaked): ${refused}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function nativeCase(port: number, connectFirst: boolean, n: number): Promise<RawPeer> {
  return withSlot(`case ${n}`, async () => {
    const p = await RawPeer.open(port);
    // Without CONNECT nothing is answered but a refusal, which the case itself sees and fails on.
    if (!connectFirst) return { peer: p, refused: null };
    p.send({ t: 'CONNECT', v: [1] });
    const first = await p.waitFor((c) => c['t'] === 'CONNECTED' || c['t'] === 'ERROR', 'CONNECTED', 5000).catch(() => null);
    if (first?.['code'] === 'FERRY_TOO_MANY_CONNECTIONS') return { peer: p, refused: String(first['message']) };
    if (first?.['t'] !== 'CONNECTED') throw new Error(`case ${n}: no CONNECTED: ${JSON.stringify(first)}`);
    return { peer: p, refused: null };
  });
}

function stompCase(port: number, connectFirst: boolean, n: number): Promise<StompPeer> {
  return withSlot(`STOMP case ${n}`, async () => {
    const p = await StompPeer.open(port);
    // Without CONNECT nothing is answered but a refusal, which the case itself sees and fails on.
    if (!connectFirst) return { peer: p, refused: null };
    p.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
    const f = await p.waitFor((x) => x.command === 'CONNECTED' || x.command === 'ERROR').catch(() => null);
    const msg = f?.headers.get('message') ?? '';
    if (f?.command === 'ERROR' && /maximumConnections/.test(msg)) return { peer: p, refused: msg };
    if (f?.command !== 'CONNECTED') throw new Error(`STOMP case ${n}: no CONNECTED: ${f?.command ?? 'nothing'} ${msg}`);
    return { peer: p, refused: null };
  });
}

function errorLines(b: BrokerProcess): string[] {
  return b.logs.filter((l) => Number(l['level']) >= 50).map((l) => JSON.stringify(l));
}

t.test('native protocol fuzz: every case ends in an ERROR or a clean close; nothing leaks', async (t) => {
  // One slot for the normal client and four for fuzz peers (slack for closes the broker has not processed yet):
  // leaked connections show as refusals, and at the end as fewer than four free slots.
  const b = await startBroker(t, { query: 'maximumConnections=5&wireFormat.maxFrameSize=65536' });
  const good = await connect(b.url);
  t.teardown(() => good.close());
  const sub = await good.subscribe('queue://fuzz-ok');
  const kinds = new Map<string, number>();
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(nativeFrame, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean(), async (frames, connectFirst, cutLast) => {
      cases++;
      for (const f of frames) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
      const p = await nativeCase(b.port, connectFirst, cases);
      try {
        const bytes = Buffer.concat(frames.map((f) => f.bytes));
        if (cutLast) {
          // A frame cut short, then the client half-closes: the broker must close its side too.
          p.write(bytes.subarray(0, bytes.length - 1));
          p.socket.end();
        } else {
          p.write(bytes);
          p.send({ t: 'DISCONNECT', rid: BARRIER_RID });
        }
        await p.waitClosed(`broker closes case ${cases} (${frames.map((f) => f.kind).join(', ')})`);
        const refused = p.received.find((c) => c['code'] === 'FERRY_TOO_MANY_CONNECTIONS');
        if (refused) throw new Error(`case ${cases} refused: earlier connections leaked`);
        // A DISCONNECT among the fuzz frames may close the connection before the barrier: a clean close too.
        if (!cutLast && !frames.some((f) => f.kind === 'cmd:DISCONNECT')) {
          const last = p.received.at(-1);
          const ended = last !== undefined && (last['t'] === 'RECEIPT' || (last['t'] === 'ERROR' && last['fatal'] === true));
          if (!ended) throw new Error(`case ${cases}: closed without a final RECEIPT or fatal ERROR: ${JSON.stringify(p.received.map((c) => c['t']))}`);
        }
      } finally {
        p.destroy();
      }
      await good.send('queue://fuzz-ok', `ok${cases}`, { persistent: false });
      const m = await sub.receive(5000);
      if (m?.text !== `ok${cases}`) throw new Error(`case ${cases}: the normal client got ${m?.text ?? 'nothing'}`);
    }),
    { numRuns: 1000 },
  );
  for (const k of [...NATIVE_COMMANDS.map((c) => `cmd:${c}`), 'random-bytes', 'truncated-value', 'trailing-bytes', 'not-a-map', 'zero-length']) {
    t.ok((kinds.get(k) ?? 0) >= 5, `${k} generated ${kinds.get(k) ?? 0} times`);
  }
  t.same(errorLines(b), [], 'no error-level broker log line');
  await acceptsMore(
    async () => {
      const p = await RawPeer.open(b.port);
      p.send({ t: 'CONNECT', v: [1] });
      await p.waitFor((c) => c['t'] === 'CONNECTED' || c['t'] === 'ERROR', 'an answer to CONNECT').catch(() => undefined);
      return { ok: p.received.some((c) => c['t'] === 'CONNECTED'), destroy: () => p.destroy() };
    },
    4,
    'native connector',
  );
  t.pass('the connection count is back to its start: all four fuzz slots accept again');
});

const STOMP_COMMANDS = ['CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT', 'send', 'TELEPORT', ''];
const stompHeaderValue = fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('1.2', '1.0,1.1', '0,0', '100,100', 'x,y', '-1', '99999999999', 'client', 'client-individual', 'auto', 'true', '/queue/fz.a', '/topic/fz.t', 'queue://fz.b', 'a\\cb', 'bad\\t', "color = 'red'", 'a >'));
const stompHeader = fc.tuple(
  fc.oneof(
    fc.constantFrom('destination', 'id', 'ack', 'receipt', 'transaction', 'content-length', 'content-type', 'selector', 'activemq.prefetchSize', 'persistent', 'priority', 'expires', 'heart-beat', 'accept-version', 'host', 'message-id', 'subscription', 'client-id', 'activemq.subscriptionName', 'reply-to', 'amq-msg-type'),
    fc.string({ maxLength: 6 }),
  ),
  stompHeaderValue,
);
const stompFrame = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ command: fc.constantFrom(...STOMP_COMMANDS), headers: fc.array(stompHeader, { maxLength: 5 }), body: fc.oneof(fc.constant(''), fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b).toString('latin1'))) }).map((f) => ({
      kind: `cmd:${f.command || 'empty'}`,
      // A content-length beyond the body makes the parser read on into what follows, the closing DISCONNECT too.
      swallows: f.headers.some(([k, v]) => k === 'content-length' && /^\d+$/.test(v) && Number(v) > Buffer.byteLength(f.body, 'latin1')),
      bytes: Buffer.concat([Buffer.from(`${f.command}\n${f.headers.map(([k, v]) => `${k}:${v}`).join('\n')}${f.headers.length ? '\n' : ''}\n`, 'latin1'), Buffer.from(f.body, 'latin1'), Buffer.from([0])]),
    })),
  },
  // Frames broken in the ways a parser meets: a header without a colon, no blank line, a lying content-length.
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => ({ kind: 'random-bytes', bytes: Buffer.concat([Buffer.from(b), Buffer.from([0])]) })) },
  { weight: 1, arbitrary: fc.constantFrom('SEND\nnocolon\n\n\0', 'SEND\ndestination:/queue/fz.a\ncontent-length:5\n\nab\0', 'SEND\ndestination:/queue/fz.a\ncontent-length:-3\n\n\0', 'SEND\ndestination:/queue/fz.a\ncontent-length:zz\n\n\0').map((s) => ({ kind: 'broken-frame', bytes: Buffer.from(s) })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'heart-beat-eols', bytes: Buffer.from('\n\r\n\n') }) },
);

t.test('STOMP fuzz: every case ends in an ERROR or a clean close; nothing leaks', async (t) => {
  const b = await startStompBroker(t, { stompQuery: 'maximumConnections=4&wireFormat.maxFrameSize=65536' });
  const good = await connect(b.url);
  t.teardown(() => good.close());
  const sub = await good.subscribe('queue://fuzz-ok');
  const kinds = new Map<string, number>();
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(stompFrame, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean(), async (frames, connectFirst, cutLast) => {
      cases++;
      for (const f of frames) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
      const p = await stompCase(b.stompPort, connectFirst, cases);
      try {
        const bytes = Buffer.concat(frames.map((f) => f.bytes));
        // A frame that reads on past its body may take the DISCONNECT as its own bytes and wait for more: such a
        // case, like a cut one, ends with the client's FIN, and the broker must close without an answer owed.
        const swallows = frames.some((f) => 'swallows' in f && f.swallows);
        if (cutLast || swallows) {
          p.write(cutLast ? bytes.subarray(0, bytes.length - 1) : bytes);
          p.socket.end();
        } else {
          p.write(bytes);
          p.write('DISCONNECT\nreceipt:fuzz-bye\n\n\0');
        }
        await p.closedWithin(5000).catch(() => {
          throw new Error(`STOMP case ${cases} not closed by the broker (${frames.map((f) => f.kind).join(', ')}); got ${p.frames.map((f) => f.command).join(',')}`);
        });
        if (p.frames.some((f) => /maximumConnections/.test(f.headers.get('message') ?? ''))) throw new Error(`STOMP case ${cases} refused: connections leaked`);
        if (!cutLast && !swallows && !frames.some((f) => f.kind === 'cmd:DISCONNECT')) {
          const last = p.frames.at(-1);
          if (last === undefined || (last.command !== 'RECEIPT' && last.command !== 'ERROR')) {
            throw new Error(`STOMP case ${cases}: closed without a final RECEIPT or ERROR: ${p.frames.map((f) => f.command).join(',')}`);
          }
        }
      } finally {
        p.socket.destroy();
      }
      await good.send('queue://fuzz-ok', `ok${cases}`, { persistent: false });
      const m = await sub.receive(5000);
      if (m?.text !== `ok${cases}`) throw new Error(`STOMP case ${cases}: the normal client got ${m?.text ?? 'nothing'}`);
    }),
    { numRuns: 600 },
  );
  for (const k of [...STOMP_COMMANDS.map((c) => `cmd:${c || 'empty'}`), 'random-bytes', 'broken-frame']) {
    t.ok((kinds.get(k) ?? 0) >= 5, `${k} generated ${kinds.get(k) ?? 0} times`);
  }
  t.same(errorLines(b), [], 'no error-level broker log line');
  await acceptsMore(
    async () => {
      const p = await StompPeer.open(b.stompPort);
      p.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
      await p.waitFor((f) => f.command === 'CONNECTED' || f.command === 'ERROR').catch(() => undefined);
      return { ok: p.frames.some((f) => f.command === 'CONNECTED'), destroy: () => p.socket.destroy() };
    },
    4,
    'STOMP connector',
  );
  t.pass('the STOMP connection count is back to its start');
  // A normal STOMP client still round-trips (its slot may be waiting for the probes' closes: stompCase retries).
  const s = await stompCase(b.stompPort, true, 0);
  s.send('SUBSCRIBE', { destination: '/queue/fuzz-stomp', id: '1' });
  s.send('SEND', { destination: '/queue/fuzz-stomp', receipt: 'r' }, 'after the fuzz');
  const m = await s.waitFor('MESSAGE');
  t.equal(m.body.toString(), 'after the fuzz');
  s.socket.destroy();
});
