/**
 * Password hashes for `<authenticationUser password=…>`: scrypt (node:crypto), written as
 * `scrypt:N:r:p:<salt base64>:<hash base64>` by `ferrymq passwd`. A value that is not such a hash is a plain-text
 * password, as in ActiveMQ's simpleAuthenticationPlugin. Comparisons take the same time whatever matches.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { FerryError } from '../errors.js';

/** scrypt cost (N), block size (r), parallelism (p): the OWASP minimum for scrypt; about 50 ms on one core. */
export const DEFAULT_SCRYPT_N = 16384;
export const DEFAULT_SCRYPT_R = 8;
export const DEFAULT_SCRYPT_P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** A config cannot ask for a cost that would take the broker's memory (128·N·r bytes each). */
const MAX_SCRYPT_MEMORY_BYTES = 256 * 1024 * 1024;

interface ScryptHash {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** The parts of a `scrypt:` value, or null for a plain password. @throws FerryError FERRY_CONFIG for a malformed hash */
export function parseHash(stored: string): ScryptHash | null {
  if (!stored.startsWith('scrypt:')) return null;
  const m = /^scrypt:(\d+):(\d+):(\d+):([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(stored);
  const n = Number(m?.[1]);
  const r = Number(m?.[2]);
  const p = Number(m?.[3]);
  // N a power of two above 1, as scrypt requires.
  if (m === null || !(n > 1 && (n & (n - 1)) === 0) || !(r >= 1 && r <= 64) || !(p >= 1 && p <= 16) || 128 * n * r > MAX_SCRYPT_MEMORY_BYTES) {
    throw new FerryError('FERRY_CONFIG', 'malformed scrypt password hash (expected scrypt:N:r:p:<salt>:<hash> as printed by `ferrymq passwd`)');
  }
  return { n, r, p, salt: Buffer.from(m[4]!, 'base64'), hash: Buffer.from(m[5]!, 'base64') };
}

function derive(password: string, h: { n: number; r: number; p: number; salt: Buffer }, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, h.salt, bytes, { N: h.n, r: h.r, p: h.p, maxmem: 128 * h.n * h.r * 2 + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** A new salted scrypt hash of `password`, in the form `<authenticationUser password=…>` takes. */
export async function hashPassword(password: string, cost: { n?: number; r?: number; p?: number } = {}): Promise<string> {
  const h = { n: cost.n ?? DEFAULT_SCRYPT_N, r: cost.r ?? DEFAULT_SCRYPT_R, p: cost.p ?? DEFAULT_SCRYPT_P, salt: randomBytes(SALT_BYTES) };
  parseHash(`scrypt:${h.n}:${h.r}:${h.p}:AA==:AA==`); // the same limits as a config's hash
  const key = await derive(password, h, KEY_BYTES);
  return `scrypt:${h.n}:${h.r}:${h.p}:${h.salt.toString('base64')}:${key.toString('base64')}`;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** True when `given` is the password `stored` (plain, or a scrypt hash) stands for. */
export async function verifyPassword(stored: string, given: string): Promise<boolean> {
  const h = parseHash(stored);
  if (h === null) return timingSafeEqual(sha256(stored), sha256(given));
  const key = await derive(given, h, h.hash.length);
  return key.length === h.hash.length && timingSafeEqual(key, h.hash);
}
