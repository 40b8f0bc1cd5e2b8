import { ProtocolError } from '../errors.js';
import { ACK_MODES, type ClientCommand, type Headers } from './commands.js';

/** Largest integer a sequence, tag or id may carry (exactly representable in a double). */
const MAX_INT = Number.MAX_SAFE_INTEGER;

function bad(cmd: string, field: string, want: string, got: unknown): never {
  const shown = typeof got === 'string' ? JSON.stringify(got.slice(0, 60)) : typeof got;
  throw new ProtocolError('FERRY_INVALID_COMMAND', `${cmd}.${field} must be ${want}, got ${shown}`);
}

function str(o: Record<string, unknown>, cmd: string, f: string, required: boolean, max = 4096): void {
  const v = o[f];
  if (v === undefined || v === null) {
    if (required) bad(cmd, f, 'a string', v);
    return;
  }
  if (typeof v !== 'string' || v.length > max) bad(cmd, f, `a string of at most ${max} characters`, v);
}

function int(o: Record<string, unknown>, cmd: string, f: string, required: boolean, min = 0, max = MAX_INT): void {
  const v = o[f];
  if (v === undefined || v === null) {
    if (required) bad(cmd, f, 'an integer', v);
    return;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    bad(cmd, f, `an integer from ${min} to ${max}`, v);
  }
}

function bool(o: Record<string, unknown>, cmd: string, f: string): void {
  const v = o[f];
  if (v !== undefined && v !== null && typeof v !== 'boolean') bad(cmd, f, 'a boolean', v);
}

function headers(o: Record<string, unknown>, cmd: string): void {
  const h = o['headers'];
  if (h === undefined || h === null) return;
  if (typeof h !== 'object' || Array.isArray(h) || h instanceof Uint8Array) bad(cmd, 'headers', 'a map', h);
  let n = 0;
  for (const [k, v] of Object.entries(h as Headers)) {
    if (++n > 1024) bad(cmd, 'headers', 'a map of at most 1024 entries', h);
    if (k.length > 1024) bad(cmd, `headers`, 'a map with keys of at most 1024 characters', k);
    const t = typeof v;
    if (!(v === null || t === 'string' || t === 'number' || t === 'boolean')) {
      bad(cmd, `headers.${k}`, 'a string, number, boolean or null', v);
    }
  }
}

/** Longest broker path a forwarded message may carry (a bridge's hop cap is far below it). */
const MAX_PATH = 64;

function path(o: Record<string, unknown>, cmd: string): void {
  const p = o['path'];
  if (p === undefined || p === null) return;
  if (!Array.isArray(p) || p.length > MAX_PATH || !p.every((e) => typeof e === 'string' && e.length > 0 && e.length <= 256)) {
    bad(cmd, 'path', `a list of at most ${MAX_PATH} broker names`, p);
  }
}

function networkSub(o: Record<string, unknown>, cmd: string): void {
  const n = o['network'];
  if (n === undefined || n === null) return;
  if (typeof n !== 'object' || Array.isArray(n) || n instanceof Uint8Array) bad(cmd, 'network', 'a map {peer, path, ttl}', n);
  const m = n as Record<string, unknown>;
  str(m, `${cmd}.network`, 'peer', true, 256);
  path(m, `${cmd}.network`);
  int(m, `${cmd}.network`, 'ttl', true, 1, 255);
}

/**
 * Check that a decoded frame body is a well-formed client command. Unknown fields are ignored (newer clients may
 * send more); missing or wrongly typed known fields are rejected with a message naming the field.
 * @throws ProtocolError FERRY_UNKNOWN_COMMAND or FERRY_INVALID_COMMAND
 */
export function validateClientCommand(value: unknown): ClientCommand {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ProtocolError('FERRY_INVALID_COMMAND', `a command must be a msgpack map, got ${typeof value}`);
  }
  const o = value as Record<string, unknown>;
  const t = o['t'];
  if (typeof t !== 'string') throw new ProtocolError('FERRY_INVALID_COMMAND', 'a command needs a string field t');
  switch (t) {
    case 'SEND':
      str(o, t, 'dest', true, 1024);
      if (!(o['body'] instanceof Uint8Array)) bad(t, 'body', 'binary', o['body']);
      int(o, t, 'bt', false, 0, 2);
      bool(o, t, 'persistent');
      str(o, t, 'pid', false, 256);
      int(o, t, 'seq', false);
      int(o, t, 'rid', false);
      headers(o, t);
      int(o, t, 'priority', false, 0, 9);
      int(o, t, 'ttl', false);
      str(o, t, 'correlationId', false);
      str(o, t, 'replyTo', false, 1024);
      str(o, t, 'tx', false, 256);
      path(o, t);
      str(o, t, 'mid', false, 512);
      int(o, t, 'ts', false);
      int(o, t, 'exp', false);
      bool(o, t, 'rd');
      break;
    case 'ACK':
    case 'NACK':
      int(o, t, 'rid', false);
      int(o, t, 'sid', true);
      int(o, t, 'tag', true);
      bool(o, t, 'upto');
      str(o, t, 'tx', false, 256);
      break;
    case 'CONNECT':
      if (!Array.isArray(o['v']) || o['v'].length === 0 || o['v'].length > 16 || !o['v'].every(Number.isInteger)) {
        bad(t, 'v', 'a list of protocol versions', o['v']);
      }
      str(o, t, 'clientId', false, 256);
      str(o, t, 'user', false, 256);
      str(o, t, 'password', false, 1024);
      int(o, t, 'heartbeat', false);
      break;
    case 'SUBSCRIBE':
      int(o, t, 'rid', false);
      int(o, t, 'sid', true);
      str(o, t, 'dest', true, 1024);
      if (o['ack'] !== undefined && !ACK_MODES.includes(o['ack'] as never)) {
        bad(t, 'ack', `one of ${ACK_MODES.join(', ')}`, o['ack']);
      }
      int(o, t, 'prefetch', false, 1, 1_000_000);
      str(o, t, 'selector', false);
      str(o, t, 'durable', false, 256);
      int(o, t, 'priority', false, -1000, 1000);
      networkSub(o, t);
      break;
    case 'UNSUBSCRIBE':
      int(o, t, 'rid', false);
      // Either a subscription of this connection, or a durable subscription by name.
      int(o, t, 'sid', o['durable'] === undefined || o['durable'] === null);
      str(o, t, 'durable', false, 256);
      break;
    case 'BEGIN':
    case 'COMMIT':
    case 'ABORT':
      int(o, t, 'rid', false);
      str(o, t, 'tx', true, 256);
      break;
    case 'DISCONNECT':
      int(o, t, 'rid', false);
      break;
    case 'PING':
      break;
    case 'STATS':
    case 'INFO':
      int(o, t, 'rid', true);
      break;
    case 'BROWSE':
      int(o, t, 'rid', true);
      str(o, t, 'dest', true, 1024);
      int(o, t, 'max', false, 1, 1_000_000);
      break;
    case 'PURGE':
    case 'DELETE':
      int(o, t, 'rid', true);
      str(o, t, 'dest', true, 1024);
      break;
    default:
      throw new ProtocolError('FERRY_UNKNOWN_COMMAND', `unknown command ${JSON.stringify(t.slice(0, 40))}`);
  }
  return o as unknown as ClientCommand;
}
