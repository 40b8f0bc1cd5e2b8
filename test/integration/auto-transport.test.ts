// `auto://` (ActiveMQ's auto transport): native and STOMP clients on one port, told apart by their first bytes.
import { connect as netConnect, type Socket } from 'node:net';
import t from 'tap';
import { connect, FerryNode, parseConfig } from '../../src/index.js';
import { silentLogger } from '../../src/log.js';
import { encodeFrame } from '../../src/protocol/codec.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { type StompFrame, StompParser } from '../../src/transport/stomp/parser.js';
import { RawPeer } from '../helpers/raw.js';

/** A STOMP peer on a raw socket: writes chunks one per tick, collects every frame until the broker closes. */
class StompPeer {
  readonly frames: StompFrame[] = [];
  closed = false;
  private readonly parser = new StompParser();
  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.parser.push(d, (f) => this.frames.push(f)));
    socket.on('error', () => {});
    socket.on('close', () => (this.closed = true));
  }
  static async open(port: number, chunks: string[]): Promise<StompPeer> {
    const s = await new Promise<Socket>((resolve, reject) => {
      const sock = netConnect({ host: '127.0.0.1', port }, () => resolve(sock));
      sock.once('error', reject);
    });
    const p = new StompPeer(s);
    for (const c of chunks) {
      s.write(c);
      await new Promise((r) => setImmediate(r));
    }
    return p;
  }
  /** Wait (polling, with a deadline) until `done` holds; the message says what was awaited. */
  async until(done: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; got ${this.frames.map((f) => f.command)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  /** Every frame up to the broker's close. */
  async untilClosed(what: string): Promise<StompFrame[]> {
    await this.until(() => this.closed, `close (${what})`);
    return this.frames;
  }
}

t.test('auto://: native and STOMP clients on one port, bad first bytes refused', async (t) => {
  const { config } = parseConfig(`<broker brokerName="auto"><webConsole enabled="false"/><transportConnectors>
    <transportConnector name="auto" uri="auto+nio://127.0.0.1:0?protocolDetectionTimeOut=300&amp;maximumConnections=4"/>
  </transportConnectors></broker>`);
  t.equal(config.transportConnectors[0]!.protocol, 'auto');
  const node = new FerryNode(config, silentLogger(), new MemoryStore());
  await node.start();
  t.teardown(() => node.stop());
  const port = node.connectors[0]!.port;

  // A native producer and a STOMP consumer meet on the same port.
  const c = await connect(`tcp://127.0.0.1:${port}`);
  t.teardown(() => c.close());
  const consumer = await StompPeer.open(port, [
    '\n', 'CON', 'NECT\naccept-version:1.2\nhost:x\n\n\0', 'SUBSCRIBE\nid:1\ndestination:/queue/auto\nreceipt:r1\n\n\0',
  ]);
  t.teardown(() => consumer.socket.destroy());
  await consumer.until(() => consumer.frames.some((f) => f.command === 'RECEIPT'), 'RECEIPT for SUBSCRIBE');
  t.equal(consumer.frames[0]?.command, 'CONNECTED', 'a STOMP CONNECT split over writes, after a heart-beat EOL');
  const N = 50;
  for (let i = 0; i < N; i++) await c.send('queue://auto', `m${i}`);
  const messages = () => consumer.frames.filter((f) => f.command === 'MESSAGE');
  await consumer.until(() => messages().length >= N, `${N} MESSAGE frames`);
  t.equal(messages().length, N, `the STOMP consumer received all ${N} native sends`);
  t.equal(new Set(messages().map((f) => f.body.toString())).size, N, 'all unique');
  consumer.socket.destroy();

  // A native CONNECT written one byte at a time is still native.
  const raw = await RawPeer.open(port);
  t.teardown(() => raw.socket.destroy());
  for (const b of encodeFrame({ t: 'CONNECT', v: [1] })) {
    raw.write(Buffer.from([b]));
    await new Promise((r) => setImmediate(r));
  }
  t.match(await raw.waitFor((x) => x['t'] === 'CONNECTED', 'CONNECTED'), { t: 'CONNECTED' }, 'byte-by-byte native CONNECT');
  raw.socket.destroy();

  // Wrong first bytes: an error in readable framing, then the close.
  const http = await (await StompPeer.open(port, ['GET / HTTP/1.1\r\nHost: x\r\n\r\n'])).untilClosed('after bad bytes');
  t.same(http.map((f) => f.command), ['ERROR']);
  t.match(http[0]!.headers.get('message'), /expected ferrymq native frames or a STOMP CONNECT frame, got 47 45 54 20/);
  const ow = await RawPeer.open(port);
  ow.write(Buffer.concat([Buffer.from([0, 0, 0, 20, 1]), Buffer.from('ActiveMQ\0\0\0\x0c', 'latin1')]));
  t.match(await ow.waitFor((x) => x['t'] === 'ERROR', 'ERROR'), { message: /OpenWire .* is not supported/ }, 'an OpenWire client is told');
  await ow.waitClosed('after the OpenWire ERROR');

  // Silence: closed after protocolDetectionTimeOut.
  const silent = await (await StompPeer.open(port, [])).untilClosed('a silent client');
  t.match(silent[0]?.headers.get('message'), /no protocol detected within 300 ms/);
});

t.test('auto://: at maximumConnections the refusal is in the protocol the client speaks', async (t) => {
  const { config } = parseConfig(`<broker brokerName="full"><webConsole enabled="false"/><transportConnectors>
    <transportConnector name="auto" uri="auto://127.0.0.1:0?maximumConnections=1"/>
  </transportConnectors></broker>`);
  const node = new FerryNode(config, silentLogger(), new MemoryStore());
  await node.start();
  t.teardown(() => node.stop());
  const port = node.connectors[0]!.port;
  const first = await RawPeer.connected(port);
  t.teardown(() => first.socket.destroy());
  const native = await RawPeer.open(port);
  native.send({ t: 'CONNECT', v: [1] });
  t.match(await native.waitFor((x) => x['t'] === 'ERROR', 'native refusal'), { code: 'FERRY_TOO_MANY_CONNECTIONS', message: /maximumConnections=1/ });
  const stomp = await (await StompPeer.open(port, ['CONNECT\naccept-version:1.2\nhost:x\n\n\0'])).untilClosed('refused');
  t.same(stomp.map((f) => f.command), ['ERROR']);
  t.match(stomp[0]!.headers.get('message'), /maximumConnections=1/);
});
