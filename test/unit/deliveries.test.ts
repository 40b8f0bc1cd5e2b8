import fc from 'fast-check';
import t from 'tap';
import { Deliveries } from '../../src/broker/deliveries.js';
import type { BrokerMessage } from '../../src/model/message.js';

/**
 * Deliveries must answer exactly as the Map it replaced (insertion order = tag order): the same message for a tag,
 * the same messages, in the same order, for "up to a tag" and for "all", and the same count, whatever the mix of
 * single acks, cumulative acks and deliveries kept outstanding while later ones are acked (the stragglers).
 */

const msg = (tag: number): BrokerMessage => ({ seq: tag, id: `m${tag}`, dest: 'queue://q', body: new Uint8Array(0), bt: 0, persistent: false, priority: 4, timestamp: 0, expires: 0, deliveryCount: 1 });

type Op = { op: 'add'; gap: number } | { op: 'delete'; back: number } | { op: 'upto'; back: number } | { op: 'get'; back: number } | { op: 'clear' };

const ops = fc.array(
  fc.oneof(
    { weight: 10, arbitrary: fc.record({ op: fc.constant('add' as const), gap: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(3) }) }) },
    { weight: 5, arbitrary: fc.record({ op: fc.constant('delete' as const), back: fc.nat(40) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('upto' as const), back: fc.nat(40) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('get' as const), back: fc.nat(40) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
  ),
  { maxLength: 400 },
);

t.test('Deliveries answers as an insertion-ordered Map of tag -> message would', async (t) => {
  let stragglersUsed = 0;
  fc.assert(
    fc.property(ops, fc.constantFrom(2, 4, 8, 1024), (list: Op[], maxSpan) => {
      const d = new Deliveries(maxSpan);
      const ref = new Map<number, BrokerMessage>();
      let next = 1;
      const ids = (ms: BrokerMessage[]): string => ms.map((m) => m.id).join(',');
      for (const o of list) {
        if (o.op === 'add') {
          next += o.gap;
          const m = msg(next);
          d.add(next, m);
          ref.set(next, m);
          next++;
        } else if (o.op === 'delete') {
          const tag = next - 1 - o.back;
          const want = ref.get(tag);
          ref.delete(tag);
          if (d.delete(tag) !== want) throw new Error(`delete ${tag}`);
        } else if (o.op === 'upto') {
          const tag = next - 1 - o.back;
          const want: BrokerMessage[] = [];
          for (const [k, m] of ref) {
            if (k > tag) break;
            want.push(m);
            ref.delete(k);
          }
          const got = d.takeUpTo(tag);
          if (ids(got) !== ids(want)) throw new Error(`upto ${tag}: ${ids(got)} != ${ids(want)}`);
        } else if (o.op === 'get') {
          const tag = next - 1 - o.back;
          if (d.get(tag) !== ref.get(tag) || d.has(tag) !== ref.has(tag)) throw new Error(`get ${tag}`);
        } else {
          const got = d.clear();
          if (ids(got) !== ids([...ref.values()])) throw new Error(`clear: ${ids(got)}`);
          ref.clear();
        }
        if (d.size !== ref.size) throw new Error(`size ${d.size} != ${ref.size}`);
        if ((d as unknown as { stragglers: unknown }).stragglers !== null) stragglersUsed++;
      }
      const rest = d.clear();
      if (ids(rest) !== ids([...ref.values()])) throw new Error('final clear');
      return true;
    }),
    { numRuns: 1000 },
  );
  t.ok(stragglersUsed > 100, `deliveries were set aside as stragglers (${stragglersUsed} steps)`);
});

t.test('a delivery kept outstanding while many later ones are acked does not stretch the ring', async (t) => {
  const d = new Deliveries(64);
  d.add(1, msg(1));
  for (let tag = 2; tag < 100_000; tag++) {
    d.add(tag, msg(tag));
    d.delete(tag);
  }
  const ring = (d as unknown as { ring: unknown[] }).ring;
  t.ok(ring.length <= 128, `the ring stays small (${ring.length} slots)`);
  t.equal(d.get(1)?.id, 'm1', 'the kept delivery is still found');
  t.same(d.takeUpTo(100_000).map((m) => m.id), ['m1'], 'and acked');
  t.equal(d.size, 0);
});
