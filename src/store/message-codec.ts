import { Packr } from 'msgpackr';
import type { BrokerMessage } from '../model/message.js';

/**
 * A stored message's record, encoded by hand straight into the buffer it is written from (the journal record):
 * the message was packed by msgpackr into a buffer of its own and then copied into the record, once per persistent
 * message. The bytes are a msgpack map of the fields present, as msgpackr would write them, so level-pages.ts
 * reads them (and every record written before) with msgpackr as it always did; `headers` and `path`, rare and
 * nested, are packed by msgpackr.
 */

const packr = new Packr({ useRecords: false, structuredClone: false });

/** The record's field names, each as a msgpack fixstr. */
const keyBytes = (k: string): Buffer => Buffer.concat([Buffer.from([0xa0 | k.length]), Buffer.from(k, 'latin1')]);
const K = {
  seq: keyBytes('seq'),
  id: keyBytes('id'),
  dest: keyBytes('dest'),
  body: keyBytes('body'),
  bt: keyBytes('bt'),
  priority: keyBytes('priority'),
  timestamp: keyBytes('timestamp'),
  expires: keyBytes('expires'),
  headers: keyBytes('headers'),
  correlationId: keyBytes('correlationId'),
  replyTo: keyBytes('replyTo'),
  deliveryCount: keyBytes('deliveryCount'),
  pid: keyBytes('pid'),
  pseq: keyBytes('pseq'),
  home: keyBytes('home'),
  path: keyBytes('path'),
};
/** Every key, a map16 header, and a float64 for each number: what the fixed part can take. */
const FIXED_BOUND = Object.values(K).reduce((n, k) => n + k.length, 0) + 3 + 8 * 9;

/** `headers` and `path` packed by msgpackr, when the message has them: the bound needs their size. */
export interface Nested {
  headers?: Buffer;
  path?: Buffer;
}

/** The nested fields of `m` packed, or undefined when it has none (the usual case). */
export function nestedOf(m: BrokerMessage): Nested | undefined {
  if (m.headers === undefined && m.path === undefined) return undefined;
  return { headers: m.headers === undefined ? undefined : packr.pack(m.headers), path: m.path === undefined ? undefined : packr.pack(m.path) };
}

/** Bytes the record of `m` can take at most. */
export function storedBound(m: BrokerMessage, nested: Nested | undefined): number {
  return (
    FIXED_BOUND +
    5 + m.body.byteLength +
    strBound(m.id) + strBound(m.dest) + strBound(m.correlationId) + strBound(m.replyTo) + strBound(m.pid) + strBound(m.home) +
    (nested?.headers?.length ?? 0) + (nested?.path?.length ?? 0)
  );
}

const strBound = (s: string | undefined): number => (s === undefined ? 0 : 5 + s.length * 3);

/** Write the record of `m` at `off`; `buf` has storedBound() bytes there. @returns the offset after it */
export function writeStoredMessage(buf: Buffer, off: number, m: BrokerMessage, nested: Nested | undefined): number {
  // Nine fields always, seven when present.
  const n =
    9 +
    (m.headers !== undefined ? 1 : 0) + (m.correlationId !== undefined ? 1 : 0) + (m.replyTo !== undefined ? 1 : 0) +
    (m.pid !== undefined ? 1 : 0) + (m.pseq !== undefined ? 1 : 0) + (m.home !== undefined ? 1 : 0) + (m.path !== undefined ? 1 : 0);
  if (n < 16) buf[off++] = 0x80 | n;
  else {
    buf[off++] = 0xde;
    buf.writeUInt16BE(n, off);
    off += 2;
  }
  off = num(buf, key(buf, off, K.seq), m.seq);
  off = str(buf, key(buf, off, K.id), m.id);
  off = str(buf, key(buf, off, K.dest), m.dest);
  off = bin(buf, key(buf, off, K.body), m.body);
  off = num(buf, key(buf, off, K.bt), m.bt);
  off = num(buf, key(buf, off, K.priority), m.priority);
  off = num(buf, key(buf, off, K.timestamp), m.timestamp);
  off = num(buf, key(buf, off, K.expires), m.expires);
  if (m.headers !== undefined) off = raw(buf, key(buf, off, K.headers), nested!.headers!);
  if (m.correlationId !== undefined) off = str(buf, key(buf, off, K.correlationId), m.correlationId);
  if (m.replyTo !== undefined) off = str(buf, key(buf, off, K.replyTo), m.replyTo);
  off = num(buf, key(buf, off, K.deliveryCount), m.deliveryCount);
  if (m.pid !== undefined) off = str(buf, key(buf, off, K.pid), m.pid);
  if (m.pseq !== undefined) off = num(buf, key(buf, off, K.pseq), m.pseq);
  if (m.home !== undefined) off = str(buf, key(buf, off, K.home), m.home);
  if (m.path !== undefined) off = raw(buf, key(buf, off, K.path), nested!.path!);
  return off;
}

/** The record of `m` in a buffer of its own (the write path without a journal). */
export function encodeStoredMessage(m: BrokerMessage): Buffer {
  const nested = nestedOf(m);
  const buf = Buffer.allocUnsafe(storedBound(m, nested));
  return buf.subarray(0, writeStoredMessage(buf, 0, m, nested));
}

function key(buf: Buffer, off: number, k: Buffer): number {
  for (let i = 0; i < k.length; i++) buf[off + i] = k[i]!;
  return off + k.length;
}

function raw(buf: Buffer, off: number, b: Buffer): number {
  b.copy(buf, off);
  return off + b.length;
}

/** A number as msgpackr writes it: a small unsigned integer compactly, anything else as a float64. */
function num(buf: Buffer, off: number, v: number): number {
  if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) {
    if (v < 0x80) buf[off++] = v;
    else if (v < 0x100) {
      buf[off++] = 0xcc;
      buf[off++] = v;
    } else if (v < 0x10000) {
      buf[off++] = 0xcd;
      buf.writeUInt16BE(v, off);
      off += 2;
    } else {
      buf[off++] = 0xce;
      buf.writeUInt32BE(v, off);
      off += 4;
    }
    return off;
  }
  buf[off++] = 0xcb;
  buf.writeDoubleBE(v, off);
  return off + 8;
}

function str(buf: Buffer, off: number, s: string): number {
  // The header's size is chosen from the bound, the length written after the bytes.
  const max = s.length * 3;
  if (max < 32) {
    const n = buf.write(s, off + 1, 'utf8');
    buf[off] = 0xa0 | n;
    return off + 1 + n;
  }
  if (max < 0x100) {
    const n = buf.write(s, off + 2, 'utf8');
    buf[off] = 0xd9;
    buf[off + 1] = n;
    return off + 2 + n;
  }
  if (max < 0x10000) {
    const n = buf.write(s, off + 3, 'utf8');
    buf[off] = 0xda;
    buf.writeUInt16BE(n, off + 1);
    return off + 3 + n;
  }
  const n = buf.write(s, off + 5, 'utf8');
  buf[off] = 0xdb;
  buf.writeUInt32BE(n, off + 1);
  return off + 5 + n;
}

function bin(buf: Buffer, off: number, b: Uint8Array): number {
  const n = b.byteLength;
  if (n < 0x100) {
    buf[off++] = 0xc4;
    buf[off++] = n;
  } else if (n < 0x10000) {
    buf[off++] = 0xc5;
    buf.writeUInt16BE(n, off);
    off += 2;
  } else {
    buf[off++] = 0xc6;
    buf.writeUInt32BE(n, off);
    off += 4;
  }
  buf.set(b, off);
  return off + n;
}
