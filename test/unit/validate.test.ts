import t from 'tap';
import { validateClientCommand } from '../../src/protocol/validate.js';

const ok = [
  { t: 'CONNECT', v: [1], clientId: 'c', heartbeat: 1000 },
  { t: 'SEND', dest: 'queue://a', body: new Uint8Array(1), persistent: true, pid: 'p', seq: 1, rid: 2, headers: { a: 1, b: 'x', c: true, d: null } },
  { t: 'SUBSCRIBE', sid: 1, dest: 'topic://x', ack: 'client', prefetch: 10 },
  { t: 'UNSUBSCRIBE', sid: 1 },
  { t: 'ACK', sid: 1, tag: 3, upto: true },
  { t: 'NACK', sid: 1, tag: 3 },
  { t: 'BEGIN', tx: 'x' },
  { t: 'DISCONNECT' },
  { t: 'PING' },
  { t: 'STATS', rid: 1 },
  { t: 'BROWSE', rid: 1, dest: 'q', max: 5 },
  { t: 'PURGE', rid: 1, dest: 'q' },
];

t.test('well-formed commands pass', async (t) => {
  for (const c of ok) t.equal(validateClientCommand(c), c, c.t);
});

const bad: [unknown, RegExp, string][] = [
  [null, /must be a msgpack map/, 'FERRY_INVALID_COMMAND'],
  [[1, 2], /must be a msgpack map/, 'FERRY_INVALID_COMMAND'],
  ['SEND', /must be a msgpack map/, 'FERRY_INVALID_COMMAND'],
  [{ x: 1 }, /needs a string field t/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'FLY' }, /unknown command "FLY"/, 'FERRY_UNKNOWN_COMMAND'],
  [{ t: 'SEND', body: new Uint8Array(1) }, /SEND\.dest must be a string/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'SEND', dest: 'q', body: 'text' }, /SEND\.body must be binary/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'SEND', dest: 'q', body: new Uint8Array(1), priority: 10 }, /SEND\.priority must be an integer from 0 to 9/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'SEND', dest: 'q', body: new Uint8Array(1), seq: -1 }, /SEND\.seq/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'SEND', dest: 'q', body: new Uint8Array(1), persistent: 'yes' }, /SEND\.persistent must be a boolean/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'SEND', dest: 'q', body: new Uint8Array(1), headers: [1] }, /SEND\.headers must be a map/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'SEND', dest: 'q', body: new Uint8Array(1), headers: { a: { b: 1 } } }, /SEND\.headers\.a must be/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'CONNECT', v: [] }, /CONNECT\.v must be a list/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'CONNECT', v: ['1'] }, /CONNECT\.v/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'SUBSCRIBE', sid: 1, dest: 'q', ack: 'sometimes' }, /SUBSCRIBE\.ack must be one of auto, client, individual/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'SUBSCRIBE', sid: 1, dest: 'q', prefetch: 0 }, /SUBSCRIBE\.prefetch/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'SUBSCRIBE', dest: 'q' }, /SUBSCRIBE\.sid must be an integer/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'ACK', sid: 1, tag: 1.5 }, /ACK\.tag/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'STATS' }, /STATS\.rid/, 'FERRY_INVALID_COMMAND'],
  [{ t: 'BEGIN' }, /BEGIN\.tx must be a string/, 'FERRY_INVALID_COMMAND'],
];

t.test('malformed commands are rejected naming the field', async (t) => {
  for (const [cmd, msg, code] of bad) {
    t.throws(() => validateClientCommand(cmd), { code, message: msg }, JSON.stringify(cmd, (_k, v) => (v instanceof Uint8Array ? '<bin>' : v)));
  }
});
