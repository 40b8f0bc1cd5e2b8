import { Packr, Unpackr } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import { FRAME_HEADER_BYTES } from './frame.js';

// Plain msgpack maps, no records or structured-clone extensions: any msgpack implementation can speak to us.
const packr = new Packr({ useRecords: false, structuredClone: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' });

/**
 * Encode one command as a complete frame: 4-byte big-endian length, then the msgpack body.
 * Binary fields (message bodies) are written as msgpack bin and never re-encoded.
 */
export function encodeFrame(cmd: object): Buffer {
  const body = packr.pack(cmd);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** Encode a value as msgpack (bodies of type Value). */
export function packValue(value: unknown): Buffer {
  return packr.pack(value);
}

/** Decode a msgpack value (bodies of type Value). */
export function unpackValue(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

/**
 * Decode one frame body into a plain value. Binary fields come back as views on `body`, not copies.
 * @throws ProtocolError FERRY_MALFORMED_FRAME when the bytes are not one msgpack value.
 */
export function decodeBody(body: Buffer): unknown {
  if (body.length === 0) throw new ProtocolError('FERRY_MALFORMED_FRAME', 'empty frame body');
  try {
    return unpackr.unpack(body);
  } catch (err) {
    throw new ProtocolError('FERRY_MALFORMED_FRAME', `frame body is not valid msgpack: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
