/**
 * The send side of a client connection: the SEND command for a message, and the wait of a non-persistent send for
 * a congested socket.
 */
import type { Socket } from 'node:net';
import { BodyType, type SendCmd } from '../protocol/commands.js';
import type { SendOptions } from './connection.js';
import { type Body, encodeBody } from './message.js';

/** A non-persistent send waits for the socket to drain above this many buffered bytes. */
export const WRITE_HIGH_WATER_BYTES = 1 << 20;

/**
 * @internal a text body already encoded as UTF-8: sent as text, without encoding a string per message (the CLI
 * producer writes its sequence number into a byte template: a 1 KiB string per message, then its UTF-8 copy, cost
 * it a tenth of its CPU).
 */
export class Utf8Text {
  constructor(readonly bytes: Uint8Array) {}
}

/** The SEND command for a message (first time and, for transactions, on replay). */
export function sendCommand(destination: string, body: Body, options: SendOptions, pid: string, seq: number): SendCmd {
  const { bytes, bt } = body instanceof Utf8Text ? { bytes: body.bytes, bt: BodyType.Text } : encodeBody(body);
  const cmd: SendCmd = { t: 'SEND', dest: destination, body: bytes, bt, persistent: options.persistent !== false, pid, seq };
  if (options.headers !== undefined) cmd.headers = options.headers;
  if (options.priority !== undefined) cmd.priority = options.priority;
  if (options.ttl !== undefined && options.ttl > 0) cmd.ttl = options.ttl;
  if (options.correlationId !== undefined) cmd.correlationId = options.correlationId;
  if (options.replyTo !== undefined) cmd.replyTo = options.replyTo;
  return cmd;
}

/** The one wait in progress per socket. */
const waits = new WeakMap<Socket, Promise<void>>();

/**
 * Resolves when `socket` next drains or closes. Every send waiting on the same socket shares one wait, with one
 * `drain` and one `close` listener: a listener pair per send (a producer with 1000 sends in flight) tripped Node's
 * MaxListenersExceededWarning, and removing them one by one on the drain was quadratic.
 */
export function socketDrained(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve(); // 'close' has been or is about to be emitted: nothing to wait for
  let wait = waits.get(socket);
  if (wait === undefined) {
    wait = new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        waits.delete(socket);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
    waits.set(socket, wait);
  }
  return wait;
}
