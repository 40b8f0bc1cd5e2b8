import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { type ErrorCode, FerryError } from '../errors.js';

/** Request bodies above this are refused (413) before they are buffered further: a console send is a small message. */
export const MAX_BODY_BYTES = 1024 * 1024;

const STATUS: Partial<Record<ErrorCode, number>> = {
  FERRY_BAD_REQUEST: 400,
  FERRY_INVALID_DESTINATION: 400,
  FERRY_INVALID_SELECTOR: 400,
  FERRY_INVALID_COMMAND: 400,
  FERRY_UNAUTHORIZED: 401,
  FERRY_FORBIDDEN: 403,
  FERRY_AUTHENTICATION_FAILED: 401,
  FERRY_NOT_AUTHORIZED: 403,
  FERRY_NOT_FOUND: 404,
  FERRY_DURABLE_IN_USE: 409,
  FERRY_FRAME_TOO_LARGE: 413,
  FERRY_RESOURCE_EXHAUSTED: 503,
  FERRY_BROKER_STOPPING: 503,
  FERRY_TIMEOUT: 503,
};

/** The HTTP status for an error: 4xx for what the caller can fix, 503 for a broker that cannot serve now, else 500. */
export function statusOf(err: unknown): number {
  return err instanceof FerryError ? (STATUS[err.code] ?? 500) : 500;
}

export function badRequest(message: string): FerryError {
  return new FerryError('FERRY_BAD_REQUEST', message);
}

export function notFound(message: string): FerryError {
  return new FerryError('FERRY_NOT_FOUND', message);
}

export function sendJson(res: ServerResponse, status: number, data: unknown): void {
  const body = JSON.stringify(data);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendText(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * The request's JSON body (an object). Actions take JSON only: a cross-site HTML form cannot send that content
 * type without a CORS preflight, which this server never grants, so a browser's cached credentials cannot be
 * replayed by another site.
 */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const length = Number(req.headers['content-length'] ?? 0);
  if (length > MAX_BODY_BYTES) throw new FerryError('FERRY_FRAME_TOO_LARGE', `request body of ${length} bytes is over the ${MAX_BODY_BYTES} byte limit`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw new FerryError('FERRY_FRAME_TOO_LARGE', `request body is over the ${MAX_BODY_BYTES} byte limit`);
    chunks.push(c);
  }
  if (size === 0) return {};
  if (type !== 'application/json') throw badRequest(`request body must be application/json, got ${type || 'no content-type'}`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('request body must be a JSON object');
  return v as Record<string, unknown>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Stream a static file (the page, its script, uPlot); 404 when it is missing. */
export async function sendFile(res: ServerResponse, file: string, method: string): Promise<void> {
  const s = await stat(file).catch(() => null);
  if (s === null || !s.isFile()) throw notFound(`no such file: ${file}`);
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': s.size, 'cache-control': 'no-cache' });
  if (method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const rs = createReadStream(file);
    rs.once('error', reject);
    rs.once('end', resolve);
    rs.pipe(res);
  });
}
