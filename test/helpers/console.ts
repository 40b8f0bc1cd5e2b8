import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { type BrokerProcess, startBroker, type StartOptions, type Teardown, tempDir } from './broker.js';

export interface ConsoleBroker extends BrokerProcess {
  /** `http://127.0.0.1:PORT/` of its web console. */
  consoleUrl: string;
}

/**
 * A broker process with its web console on port 0, read back from the "web console at …" log line. `webConsole`
 * is the attributes of a `<webConsole/>` written to a temporary config (credentials, for instance), `brokerAttrs`
 * more attributes of its `<broker>`; without `webConsole` the
 * shipped conf/single.xml is used, whose console has admin/admin.
 */
export async function startConsoleBroker(t: Teardown, opts: StartOptions & { webConsole?: string; name?: string; brokerAttrs?: string } = {}): Promise<ConsoleBroker> {
  const args = [...(opts.args ?? [])];
  if (opts.webConsole !== undefined) {
    const conf = join(tempDir(t, 'ferrymq-conf-'), 'console.xml');
    writeFileSync(conf, `<broker brokerName="${opts.name ?? 'console-test'}" ${opts.brokerAttrs ?? ''}><webConsole host="127.0.0.1" ${opts.webConsole}/></broker>`);
    args.push('--conf', conf);
  } else if (opts.name !== undefined) {
    args.push('--name', opts.name);
  }
  const b = await startBroker(t, { ...opts, args, console: true });
  const l = await b.waitForLog((x) => typeof x['consoleUrl'] === 'string', 'web console at');
  return Object.assign(b, { consoleUrl: String(l['consoleUrl']) });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

/** One HTTP request with a deadline; never throws on a 4xx/5xx (the test looks at the status). */
export function http(
  base: string,
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string | Buffer; headers?: Record<string, string>; auth?: string; timeoutMs?: number } = {},
): Promise<HttpResult> {
  const url = new URL(path, base);
  const headers: Record<string, string> = { ...opts.headers };
  let payload: Buffer | undefined;
  if (opts.body !== undefined) {
    payload = Buffer.from(JSON.stringify(opts.body));
    headers['content-type'] ??= 'application/json';
  } else if (opts.raw !== undefined) payload = Buffer.from(opts.raw);
  if (payload !== undefined) headers['content-length'] = String(payload.length);
  if (opts.auth !== undefined) headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`${method} ${path}: no answer within ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Poll `fn` until it returns a truthy value; fails with `what` after the deadline. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}${last ? `; last error: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
