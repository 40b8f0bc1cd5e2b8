import type { Socket } from 'node:net';

/** How long a closing socket waits for its peer to close its side before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

/**
 * End a socket (after `last`, if given), and destroy it if the peer has not closed its side within a grace period:
 * a peer that will not read its ERROR, or never closes, must not hold the socket (or a stopping broker) open.
 */
export function endSocket(socket: Socket, last?: Uint8Array): void {
  if (last === undefined) socket.end();
  else socket.end(last);
  setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
}
