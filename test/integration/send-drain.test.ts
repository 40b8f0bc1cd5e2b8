/**
 * Non-persistent sends waiting for a congested socket share one wait (src/client/send.ts): with a listener pair per
 * waiting send, a producer with many sends in flight tripped Node's MaxListenersExceededWarning (issue 22).
 * The broker's memory limit makes it stop reading the producer's socket, so the sends really wait; then a consumer
 * frees the queue and every send completes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { connect } from '../../src/index.js';
import { startBroker, tempDir } from '../helpers/broker.js';

const COUNT = 400;
const BODY_BYTES = 64 * 1024; // 25 MiB in all: far past the 1 MiB high-water mark, the 4 MiB limit and the socket buffers

/** A promise with a deadline that names what it waited for. */
function within<T>(p: Promise<T>, what: string, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs)));
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

t.test('many non-persistent sends waiting for a held socket: no listener leak warning, all delivered', async (t) => {
  const dir = tempDir(t);
  const conf = join(dir, 'small.xml');
  writeFileSync(conf, '<broker brokerName="drain"><systemUsage><systemUsage><memoryUsage><memoryUsage limit="4 mb"/></memoryUsage></systemUsage></systemUsage></broker>');
  const b = await startBroker(t, { dataDir: dir, args: ['--conf', conf] });
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));

  const producer = await connect(b.url);
  t.teardown(() => producer.close());
  const body = Buffer.alloc(BODY_BYTES, 0x61);
  let completed = 0;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < COUNT; i++) {
    const p = producer.send('queue://drain', body, { persistent: false, headers: { i } });
    void p.then(() => completed++, () => {});
    sends.push(p);
  }
  await within(b.waitForLog((l) => String(l['msg']).includes('producer blocked'), 'producer blocked'), 'the broker blocking the producer', 30_000);
  t.ok(completed < COUNT, `sends are waiting for the socket (${completed} of ${COUNT} done while the broker holds it)`);

  const consumer = await connect(b.url);
  t.teardown(() => consumer.close());
  const sub = await consumer.subscribe('queue://drain');
  const seen = new Set<number>();
  const all = (async () => {
    for await (const m of sub) {
      seen.add(Number(m.headers['i']));
      if (seen.size === COUNT) return;
    }
  })();
  await within(Promise.all(sends), `all ${COUNT} sends completing (${completed} done)`, 60_000);
  await within(all, `all ${COUNT} messages received (${seen.size} so far)`, 60_000);
  t.equal(seen.size, COUNT, `received ${COUNT} unique messages`);
  // A warning is emitted on the next tick: one more turn so a late one is seen.
  await new Promise((resolve) => setImmediate(resolve));
  t.same(warnings.filter((w) => w.includes('MaxListeners')), [], 'no MaxListenersExceededWarning');
});
