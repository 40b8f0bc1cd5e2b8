/**
 * ActiveMQ's `auto://` transport: one port, the protocol told apart by a connection's first bytes. A native frame
 * starts with its 4-byte big-endian length (0x00 first, for any CONNECT) and a msgpack map; a STOMP frame with the
 * command word CONNECT or STOMP (optionally after heart-beat EOLs). Bytes are held until they decide, at most a few
 * dozen; a connection that says nothing decisive within the detection timeout, or something else, gets an error
 * and is closed. The chosen protocol then sees every byte, as if it had accepted the socket itself.
 */
import type { Socket } from 'node:net';
import type { SessionHost } from '../broker/session.js';
import type { Logger } from '../log.js';
import { endSocket } from './socket.js';
import type { ProtocolConnection, WireProtocol } from './tcp-server.js';
import type { ConnectorOptions } from './uri.js';

export type Detection = 'native' | 'stomp' | 'more' | { error: string; text: boolean };

/** Leading EOLs (STOMP heart-beats) accepted before the command word. */
const MAX_LEADING_EOLS = 32;
const STOMP_COMMANDS = ['CONNECT', 'STOMP'];
/** OpenWire's WireFormatInfo: [length:4][type 0x01]["ActiveMQ"]. Named in the error, since ActiveMQ users will try it. */
const OPENWIRE_MAGIC = Buffer.from('ActiveMQ', 'latin1');

function preview(buf: Uint8Array): string {
  const head = Buffer.from(buf.subarray(0, 16));
  const text = head.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return `${head.toString('hex').replace(/(..)(?!$)/g, '$1 ')} "${text}"`;
}

/**
 * Which protocol `buf` (a connection's first bytes) starts: 'more' while it cannot tell yet. Pure, so it is tested
 * byte by byte.
 */
export function detectProtocol(buf: Uint8Array): Detection {
  if (buf.length === 0) return 'more';
  if (buf[0] === 0x00) {
    if (buf.length < 5) return 'more';
    const b = buf[4]!;
    if ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf) return 'native';
    if (b === 0x01) {
      if (buf.length < 5 + OPENWIRE_MAGIC.length) return 'more';
      if (Buffer.from(buf.subarray(5, 5 + OPENWIRE_MAGIC.length)).equals(OPENWIRE_MAGIC)) {
        return { error: 'OpenWire (ActiveMQ\'s JMS client protocol) is not supported: use a ferrymq or STOMP client', text: false };
      }
    }
    return { error: `not a ferrymq frame: a length prefix must be followed by a msgpack map (first bytes ${preview(buf)})`, text: false };
  }
  let i = 0;
  while (i < buf.length && (buf[i] === 0x0a || buf[i] === 0x0d)) i++;
  if (i > MAX_LEADING_EOLS) return { error: `more than ${MAX_LEADING_EOLS} empty lines before the first frame`, text: true };
  if (i === buf.length) return 'more';
  let j = i;
  while (j < buf.length && buf[j]! >= 0x41 && buf[j]! <= 0x5a) j++;
  const word = Buffer.from(buf.subarray(i, j)).toString('latin1');
  const wanted = 'expected ferrymq native frames or a STOMP CONNECT frame';
  if (j === buf.length) {
    // Still inside the command word: wait while it can become CONNECT or STOMP.
    if (STOMP_COMMANDS.some((c) => c.startsWith(word))) return 'more';
  } else if (STOMP_COMMANDS.includes(word) && (buf[j] === 0x0a || (buf[j] === 0x0d && (j + 1 === buf.length || buf[j + 1] === 0x0a)))) {
    return buf[j] === 0x0d && j + 1 === buf.length ? 'more' : 'stomp';
  }
  return { error: `${wanted}, got ${preview(buf)}`, text: true };
}

/** The protocols an auto connector chooses between. */
export interface AutoProtocols {
  native: WireProtocol;
  stomp: WireProtocol;
}

/** One socket of an auto connector, until its protocol is known; then the chosen protocol's connection. */
class DetectingConnection implements ProtocolConnection {
  private chunks: Buffer[] = [];
  private inner: ProtocolConnection | null = null;
  private done = false;
  private readonly timer: NodeJS.Timeout;
  private readonly onData = (chunk: Buffer): void => this.data(chunk);
  private readonly onError = (err: Error): void => this.log.debug({ err }, 'socket error');
  private readonly onClose = (): void => this.finish();

  constructor(
    private readonly socket: Socket,
    private readonly broker: SessionHost,
    private readonly options: ConnectorOptions,
    private readonly log: Logger,
    private readonly onClosed: (c: ProtocolConnection) => void,
    private readonly protocols: AutoProtocols,
    timeoutMs: number,
    /** Set when the connector is full: answer in the detected protocol's framing with this, then close. */
    private readonly refusal: string | null,
  ) {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    this.timer = setTimeout(() => this.reject(`no protocol detected within ${timeoutMs} ms`, true), timeoutMs);
    this.timer.unref();
  }

  close(): void {
    if (this.inner) this.inner.close();
    else {
      endSocket(this.socket);
      this.finish();
    }
  }

  private data(chunk: Buffer): void {
    this.chunks.push(chunk);
    const buf = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks);
    this.chunks = [buf];
    const d = detectProtocol(buf);
    if (d === 'more') return;
    if (typeof d === 'object') return this.reject(d.error, d.text);
    this.detach();
    const protocol = this.protocols[d];
    if (this.refusal !== null) {
      endSocket(this.socket, protocol.refusal(this.refusal));
      this.finish();
      return;
    }
    this.log.debug({ protocol: d, remote: this.socket.remoteAddress }, 'auto connector: %s detected', d);
    // Paused so the bytes put back are not emitted before the chosen protocol listens; it reads them first.
    this.socket.pause();
    this.socket.unshift(buf);
    this.chunks = [];
    this.inner = protocol.open(this.socket, this.broker, this.options, this.log, () => this.onClosed(this));
    this.socket.resume();
  }

  private reject(error: string, text: boolean): void {
    if (this.done || this.inner) return;
    this.detach();
    if (this.refusal === null) this.log.info({ remote: this.socket.remoteAddress }, 'auto connector: %s; closing', error);
    // The peer's framing is unknown or broken: STOMP's ERROR is readable text, a native ERROR frame suits a binary peer.
    const reply = (text ? this.protocols.stomp : this.protocols.native).refusal(error);
    endSocket(this.socket, reply);
    this.finish();
  }

  /** Stop listening as the detector (the chosen protocol, if any, has its own listeners). */
  private detach(): void {
    clearTimeout(this.timer);
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    // Until it is closed, a socket still needs an error listener or an error would be thrown.
    this.socket.on('error', () => {});
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.chunks = [];
    this.onClosed(this);
  }
}

/**
 * The `auto://` wire protocol over `protocols`. A connection shows its protocol within `timeoutMs` (ActiveMQ's
 * `protocolDetectionTimeOut`); at maximumConnections the refusal is sent in the protocol the peer speaks.
 */
export function autoProtocol(protocols: AutoProtocols, timeoutMs: number): WireProtocol {
  return {
    open: (socket, broker, options, logger, onClosed) =>
      new DetectingConnection(socket, broker, options, logger, onClosed, protocols, timeoutMs, null),
    refusal: (message) => protocols.stomp.refusal(message),
    refuse: (socket, broker, options, logger, message) => {
      // Bounded: a refused socket is not held for long just to learn how to word the refusal.
      new DetectingConnection(socket, broker, options, logger, () => {}, protocols, Math.min(timeoutMs, 2000), message);
    },
  };
}
