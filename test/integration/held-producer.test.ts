/**
 * A producer held by flow control must not be disconnected for inactivity: the broker stopped reading its socket,
 * so its silence (its frames and PINGs wait unread in the socket) is not its fault. Issue 15's repro, with the
 * real CLI producer and consumer as child processes.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { connect } from '../../src/index.js';
import { encodeFrame } from '../../src/transport/stomp/encoder.js';
import { type StompFrame, StompParser } from '../../src/transport/stomp/parser.js';
import { BIN, startBroker, startStompBroker, tempDir, type Teardown } from '../helpers/broker.js';

const INACTIVITY_MS = 2000;
const COUNT = 20_000;

function memoryConf(dir: string, limit: string): string {
  const f = join(dir, 'held.xml');
  writeFileSync(f, `<broker brokerName="held"><systemUsage><systemUsage><memoryUsage><memoryUsage limit="${limit}"/></memoryUsage></systemUsage></systemUsage></broker>`);
  return f;
}

interface Run {
  exited: boolean;
  stdout: string;
  stderr: string;
  done: Promise<number | null>;
}

/** `ferrymq ARGS` as a child process, SIGKILLed (by PID) at teardown if still running. */
function run(t: Teardown, args: string[]): Run {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const r: Run = { exited: false, stdout: '', stderr: '', done: null as unknown as Promise<number | null> };
  proc.stdout!.on('data', (d: Buffer) => (r.stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (r.stderr += d.toString()));
  r.done = new Promise((resolve) => proc.once('exit', (code) => ((r.exited = true), resolve(code))));
  t.teardown(async () => {
    if (!r.exited) {
      proc.kill('SIGKILL');
      await r.done;
    }
  });
  return r;
}

/** Resolve once `cond()` holds; reject after `timeoutMs` naming what was awaited. */
async function until(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A promise with a deadline that names what it waited for. */
function within<T>(p: Promise<T>, what: string, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs)));
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

t.test('native: a producer held by flow control for 3x the inactivity duration is not disconnected; nothing is lost', async (t) => {
  const dir = tempDir(t);
  const b = await startBroker(t, { dataDir: dir, args: ['--conf', memoryConf(dir, '4 mb')], query: `wireFormat.maxInactivityDuration=${INACTIVITY_MS}` });
  const inactivity = (): boolean => b.logs.some((l) => l['code'] === 'FERRY_INACTIVITY');
  const producer = run(t, ['producer', '--url', b.url, '--destination', 'queue://held', '--count', String(COUNT), '--no-persistent', '--json']);
  const blocked = await b.waitForLog((l) => String(l['msg']).includes('producer blocked'), 'producer blocked', 30_000);
  const since = Date.now();
  // Held for three inactivity durations: the producer must still be there, blocked, at the end of them.
  await until(() => Date.now() - since >= 3 * INACTIVITY_MS || producer.exited || inactivity(), 'end of the held period', 4 * INACTIVITY_MS);
  t.notOk(inactivity(), 'the broker did not blame the held producer for its silence');
  t.notOk(producer.exited, `the producer is still running after ${Date.now() - since} ms blocked (stderr: ${producer.stderr.replace(/.*MaxListenersExceededWarning.*\n/g, '').slice(0, 600)})`);
  const c = await connect(b.url);
  t.teardown(() => c.close());
  const held = (await c.stats()).find((s) => s.name === 'queue://held');
  t.ok(held !== undefined && held.queueSize < COUNT, `still held: ${held?.queueSize} of ${COUNT} on the queue`);
  t.ok(Number(blocked['memoryLimit']) === 4 * 1024 * 1024, 'blocked at the 4 MiB limit');
  await c.close();

  const consumer = run(t, ['consumer', '--url', b.url, '--destination', 'queue://held', '--count', String(COUNT), '--json']);
  const [pc, cc] = await within(Promise.all([producer.done, consumer.done]), 'producer and consumer exit', 60_000);
  t.equal(pc, 0, `producer exit 0 (stderr: ${producer.stderr.slice(0, 300)})`);
  t.equal(cc, 0, `consumer exit 0 (stderr: ${consumer.stderr.slice(0, 300)})`);
  const sent = JSON.parse(producer.stdout.trim().split('\n').pop()!) as { sent: number };
  const got = JSON.parse(consumer.stdout.trim().split('\n').pop()!) as { unique: number; duplicates: number };
  t.equal(sent.sent, COUNT, 'the producer counted every message as sent');
  t.equal(got.unique, COUNT, 'every message delivered (unique)');
  t.equal(got.duplicates, 0, 'no duplicates');
  t.notOk(inactivity(), 'no FERRY_INACTIVITY at any time');
});

t.test('STOMP: a producer whose socket the broker stopped reading is not timed out for silence', async (t) => {
  const dir = tempDir(t);
  const READ_TIMEOUT_MS = 1000;
  const b = await startStompBroker(t, {
    dataDir: dir,
    args: ['--conf', memoryConf(dir, '1 mb')],
    stompQuery: `wireFormat.maxInactivityDuration=${READ_TIMEOUT_MS}`,
  });
  // A raw STOMP producer that promises heart-beats (so the broker times out its silence) and keeps them coming.
  const socket = netConnect({ host: '127.0.0.1', port: b.stompPort });
  t.teardown(() => socket.destroy());
  socket.on('error', () => {});
  const frames: StompFrame[] = [];
  let closed = false;
  const parser = new StompParser();
  socket.on('data', (c: Buffer) => parser.push(c, (f) => frames.push(f)));
  socket.on('close', () => (closed = true));
  const send = (command: string, headers: [string, string][], body: Buffer | null = null): boolean =>
    socket.write(encodeFrame(command, headers, body, command === 'CONNECT' ? null : '1.2'));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  send('CONNECT', [['accept-version', '1.2'], ['host', 'x'], ['heart-beat', '200,0']]);
  await until(() => frames.some((f) => f.command === 'CONNECTED'), 'CONNECTED', 5000);
  const beat = setInterval(() => socket.write('\n'), 200);
  t.teardown(() => clearInterval(beat));
  const body = Buffer.alloc(10 * 1024, 7);
  // 3 MiB against a 1 MiB limit, no receipts: the broker holds a send and stops reading the socket.
  for (let i = 0; i < 300; i++) send('SEND', [['destination', '/queue/stomp.held'], ['persistent', 'false']], body);
  await b.waitForLog((l) => String(l['msg']).includes('STOMP producer blocked'), 'STOMP producer blocked', 30_000);
  const since = Date.now();
  await until(() => Date.now() - since >= 3 * READ_TIMEOUT_MS || closed, 'end of the held period', 4 * READ_TIMEOUT_MS);
  t.notOk(closed, 'the held STOMP producer is still connected after 3x its read timeout');
  t.notOk(frames.some((f) => f.command === 'ERROR'), 'and got no ERROR');
  const c = await connect(b.url);
  t.teardown(() => c.close());
  const sub = await c.subscribe('queue://stomp.held');
  let n = 0;
  while (n < 300 && (await sub.receive(10_000)) !== null) n++;
  t.equal(n, 300, 'every message delivered once a consumer drains the queue');
  send('DISCONNECT', [['receipt', 'bye']]);
  await until(() => frames.some((f) => f.command === 'RECEIPT' && f.headers.get('receipt-id') === 'bye'), 'DISCONNECT receipt', 10_000);
  t.notOk(frames.some((f) => f.command === 'ERROR'), 'no ERROR at any time');
});
