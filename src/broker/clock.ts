/**
 * `Date.now()` for the work of one run of synchronous code: read once, then given again until the microtask queue
 * runs, so it is never older than the code running now (a chunk of SENDs read from one socket, say). Date.now() is a
 * call into the runtime and a clock read; the send path asked for it two or three times per message, 2–3 % of
 * the broker's busy time in bench np.
 */
let cached = 0;
let valid = false;
const expire = (): void => {
  valid = false;
};

export function now(): number {
  if (!valid) {
    cached = Date.now();
    valid = true;
    queueMicrotask(expire);
  }
  return cached;
}
