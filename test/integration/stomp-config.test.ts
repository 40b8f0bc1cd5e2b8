// A `stomp://` transportConnector from an activemq.xml-style config, in an embedded node, next to the native one.
import { connect as netConnect } from 'node:net';
import stompit from 'stompit';
import t from 'tap';
import { connect, FerryNode, parseConfig } from '../../src/index.js';
import { silentLogger } from '../../src/log.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { type StompFrame, StompParser } from '../../src/transport/stomp/parser.js';

/** Write `bytes` on a fresh socket; resolves with the frames the broker sent before it closed the connection. */
function exchange(port: number, bytes: string): Promise<StompFrame[]> {
  return new Promise((resolve, reject) => {
    const frames: StompFrame[] = [];
    const parser = new StompParser();
    const s = netConnect({ host: '127.0.0.1', port }, () => s.write(bytes));
    s.on('data', (d: Buffer) => parser.push(d, (f) => frames.push(f)));
    s.on('error', reject);
    s.on('close', () => resolve(frames));
    setTimeout(() => (s.destroy(), reject(new Error(`not closed; got ${frames.map((f) => f.command)}`))), 5000).unref();
  });
}

t.test('<transportConnector name="stomp" uri="stomp://…"/>: STOMP and native clients on one broker', async (t) => {
  // No console: its default port 8161 is the one the README's demo (test/integration/readme.test.ts) binds, and
  // the two tests may run at the same time.
  const xml = `<broker brokerName="cfg"><webConsole enabled="false"/><transportConnectors>
    <transportConnector name="openwire" uri="tcp://127.0.0.1:0"/>
    <transportConnector name="stomp" uri="stomp://127.0.0.1:0?maximumConnections=5&amp;wireFormat.maxFrameSize=65536"/>
  </transportConnectors></broker>`;
  const { config } = parseConfig(xml);
  const node = new FerryNode(config, silentLogger(), new MemoryStore());
  await node.start();
  t.teardown(() => node.stop());
  const [native, stomp] = node.connectors;
  t.match(stomp!.url, /^stomp:\/\/127\.0\.0\.1:\d+$/);
  const c = await connect(native!.url);
  t.teardown(() => c.close());
  const sub = await c.subscribe('queue://cfg');
  const client = await new Promise<stompit.Client>((resolve, reject) =>
    stompit.connect({ host: '127.0.0.1', port: stomp!.port, connectHeaders: { host: 'localhost' } }, (err, cl) => (err ? reject(err) : resolve(cl))),
  );
  await new Promise<void>((resolve, reject) => {
    client.send({ destination: '/queue/cfg' }, { onReceipt: resolve, onError: reject } as stompit.Client.SendOptions).end('over STOMP');
  });
  t.equal((await sub.receive(5000))?.text, 'over STOMP', 'a native consumer gets what a STOMP producer sent');
  await new Promise<void>((resolve) => client.disconnect(() => resolve()));
  const frames = await exchange(stomp!.port, 'CONNECT\naccept-version:1.2\nhost:x\n\n\0SEND\ndestination:/queue/cfg\ncontent-length:100000\n\n');
  t.same(frames.map((f) => f.command), ['CONNECTED', 'ERROR']);
  t.match(frames[1]!.headers.get('message'), /exceeds wireFormat\.maxFrameSize=65536/, 'the connector options apply');
});
