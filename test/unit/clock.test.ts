import t from 'tap';
import { now } from '../../src/broker/clock.js';

t.test('the clock is read once per run of synchronous code, and afresh after it', async (t) => {
  const first = now();
  const until = Date.now() + 5;
  while (Date.now() < until); // this run of code takes 5 ms
  t.equal(now(), first, 'the same reading within one run of synchronous code');
  await Promise.resolve(); // the microtask queue has run
  const later = now();
  t.ok(later >= first + 5, `read afresh afterwards (${later - first} ms later)`);
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(Math.abs(now() - Date.now()) <= 1, 'the reading in a new turn of the event loop is the time now');
});
