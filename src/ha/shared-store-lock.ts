/*
 * Shared-store master/slave (ActiveMQ's shared file system master/slave, SharedFileLocker).
 *
 * The lock is LevelDB's own: opening the store takes an fcntl lock on `<dir>/LOCK`, which the kernel releases
 * when the holder dies in any way, SIGKILL included, so there is no stale-lock timeout. A second open (from any
 * process) fails with LEVEL_LOCKED, which LevelStore reports as FERRY_STORE_LOCKED: that, and only that, means
 * "another node is master, keep waiting". Nothing writes to the store without holding it.
 *
 * POSIX locks belong to the process, and closing *any* descriptor of the file drops them, so this module never
 * opens LOCK: it only stat()s it. What it adds is `<dir>/master.json`, written by each new master (temp file +
 * rename) before its connectors open: it tells a waiting node who holds the lock, and lets the master notice a
 * second master that got in because LOCK was deleted or replaced under it (ActiveMQ's documented corruption case).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { FerryError } from '../errors.js';
import type { Logger } from '../log.js';

/** How often a waiting node tries the lock, ms (ActiveMQ: 10000; the point here is a fast takeover). @default 200 */
export const DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS = 200;
/** How often a master checks it still holds the lock, ms; 0 never checks (ActiveMQ's default). @default 1000 */
export const DEFAULT_LOCK_KEEP_ALIVE_PERIOD_MS = 1000;
export const MASTER_FILE = 'master.json';

/** `<dir>/master.json`: who became master of this store, and when. */
export interface MasterRecord {
  broker: string;
  host: string;
  pid: number;
  /** Random, per lock acquisition: a master recognises its own record by it. */
  token: string;
  /** 1 for the first master of a store, then one more per takeover. */
  epoch: number;
  /** ms since the epoch when this master took the lock. */
  since: number;
}

export interface SharedStoreLockOptions {
  /** The LevelDB directory: the one holding LOCK. */
  directory: string;
  brokerName: string;
  logger: Logger;
  /** @default 200 */
  lockAcquireSleepIntervalMs?: number;
  /** @default 1000 */
  lockKeepAlivePeriodMs?: number;
}

/** Wait `ms`; a stop (abort) ends the wait at once with FERRY_BROKER_STOPPING. */
async function sleep(ms: number, signal: AbortSignal, what: string): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (err) {
    if (signal.aborted) throw stoppedError(what);
    throw err;
  }
}

function stoppedError(what: string): FerryError {
  return new FerryError('FERRY_BROKER_STOPPING', `${what}: stopped`);
}

export type LockState = 'idle' | 'waiting' | 'master' | 'lost' | 'released';

/** The stat() identity of LOCK: a deleted and recreated file has another inode. */
interface FileId {
  dev: number;
  ino: number;
}

/** Read master.json; null when it is missing or unreadable (a waiting node only uses it to say who holds the lock). */
export async function readMasterRecord(directory: string): Promise<MasterRecord | null> {
  try {
    return JSON.parse(await readFile(join(directory, MASTER_FILE), 'utf8')) as MasterRecord;
  } catch {
    return null;
  }
}

/**
 * Whether process `pid` on this host is still running. A SIGKILLed process whose parent has not yet reaped it is a
 * zombie; the kernel released its locks already, so it counts as dead (otherwise a takeover would wait for the
 * parent).
 */
function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && process.platform === 'linux') return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class SharedStoreLock {
  readonly directory: string;
  readonly lockAcquireSleepIntervalMs: number;
  readonly lockKeepAlivePeriodMs: number;
  private readonly log: Logger;
  private readonly brokerName: string;
  private _state: LockState = 'idle';
  /** While waiting: who holds the lock (null: unknown). While master: our own record. */
  private _holder: MasterRecord | null = null;
  private lockId: FileId | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking = false;

  constructor(opts: SharedStoreLockOptions) {
    this.directory = opts.directory;
    this.brokerName = opts.brokerName;
    this.log = opts.logger.child({ module: 'lock' });
    this.lockAcquireSleepIntervalMs = opts.lockAcquireSleepIntervalMs ?? DEFAULT_LOCK_ACQUIRE_SLEEP_INTERVAL_MS;
    this.lockKeepAlivePeriodMs = opts.lockKeepAlivePeriodMs ?? DEFAULT_LOCK_KEEP_ALIVE_PERIOD_MS;
  }

  get state(): LockState {
    return this._state;
  }

  get holder(): MasterRecord | null {
    return this._holder;
  }

  private get lockFile(): string {
    return join(this.directory, 'LOCK');
  }

  private get masterFile(): string {
    return join(this.directory, MASTER_FILE);
  }

  /**
   * Take the lock by opening the store: `open` is retried every lockAcquireSleepInterval while it fails with
   * FERRY_STORE_LOCKED; any other error ends the wait. The wait is logged once per holder.
   * @throws FERRY_BROKER_STOPPING when `signal` is aborted while waiting
   */
  async acquire<T>(open: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const t0 = Date.now();
    let logged: string | null = null;
    for (;;) {
      if (signal.aborted) throw stoppedError(`waiting for the lock on ${this.directory}`);
      try {
        const value = await open();
        const waited = this._state === 'waiting';
        this._state = 'idle';
        if (waited) this.log.info({ directory: this.directory, waitedMs: Date.now() - t0 }, 'lock on %s is free after %d ms', this.directory, Date.now() - t0);
        return value;
      } catch (err) {
        if (!(err instanceof FerryError && err.code === 'FERRY_STORE_LOCKED')) throw err;
      }
      const holder = await readMasterRecord(this.directory);
      this._holder = holder;
      this._state = 'waiting';
      const key = holder?.token ?? '';
      if (logged !== key) {
        const who = holder ? `held by pid ${holder.pid} on ${holder.host}` : 'held by another process; no master.json yet';
        this.log.info(
          { directory: this.directory, role: 'slave', holder },
          logged === null ? 'waiting for the lock on %s (%s)' : 'still waiting for the lock on %s (now %s)',
          this.directory,
          who,
        );
        logged = key;
      }
      await sleep(this.lockAcquireSleepIntervalMs, signal, `waiting for the lock on ${this.directory}`);
    }
  }

  /**
   * Called once the store is open (the lock is ours): publish master.json, remember LOCK's identity, and start the
   * keep-alive. If the previous master may still be running (its LOCK was deleted under it, so it never lost
   * its fcntl lock) wait two keep-alive periods for it to notice and stop serving, so two nodes never accept
   * clients at once. `onLost` is called once if the lock is lost later.
   */
  async hold(signal: AbortSignal, onLost: (err: FerryError) => void): Promise<MasterRecord> {
    const prev = await readMasterRecord(this.directory);
    const me: MasterRecord = {
      broker: this.brokerName,
      host: hostname(),
      pid: process.pid,
      token: randomBytes(8).toString('hex'),
      epoch: (typeof prev?.epoch === 'number' ? prev.epoch : 0) + 1,
      since: Date.now(),
    };
    await this.writeRecord(me);
    const st = await stat(this.lockFile);
    this.lockId = { dev: st.dev, ino: st.ino };
    this._holder = me;
    const mayRun = prev !== null && (prev.host !== me.host || (prev.pid !== process.pid && processAlive(prev.pid)));
    if (mayRun && this.lockKeepAlivePeriodMs > 0) {
      const ms = 2 * this.lockKeepAlivePeriodMs;
      this.log.warn(
        { previous: prev },
        'the previous master (pid %d on %s) may still be running: waiting %d ms for it to step down',
        prev.pid,
        prev.host,
        ms,
      );
      await sleep(ms, signal, 'waiting for the previous master to step down');
      const lost = await this.check();
      if (lost !== null) throw new FerryError('FERRY_LOCK_LOST', lost);
    }
    this._state = 'master';
    this.log.info(
      { directory: this.directory, role: 'master', epoch: me.epoch, keepAliveMs: this.lockKeepAlivePeriodMs },
      'lock acquired on %s: master (epoch %d)',
      this.directory,
      me.epoch,
    );
    if (this.lockKeepAlivePeriodMs > 0) {
      this.timer = setInterval(() => void this.tick(onLost), this.lockKeepAlivePeriodMs);
      // The listeners keep a master's process alive; this timer must not keep a stopping one.
      this.timer.unref();
    }
    return me;
  }

  /** Stop checking. The lock itself is released when the store closes. Idempotent. */
  release(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this._state !== 'lost') this._state = 'released';
  }

  private async tick(onLost: (err: FerryError) => void): Promise<void> {
    if (this.checking || this.timer === null) return;
    this.checking = true;
    try {
      const lost = await this.check();
      if (lost !== null && this.timer !== null) {
        this.release();
        this._state = 'lost';
        onLost(new FerryError('FERRY_LOCK_LOST', `lost the lock on ${this.directory}: ${lost}`));
      }
    } finally {
      this.checking = false;
    }
  }

  /** Why the lock is no longer ours, or null while it is. stat() only: opening LOCK would drop our lock. */
  private async check(): Promise<string | null> {
    const id = this.lockId!;
    try {
      const st = await stat(this.lockFile);
      if (st.dev !== id.dev || st.ino !== id.ino) return `${this.lockFile} was replaced (inode ${id.ino}, now ${st.ino})`;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'ENOENT' ? `${this.lockFile} was removed` : `cannot stat ${this.lockFile}: ${code ?? String(err)}`;
    }
    let rec: MasterRecord;
    try {
      rec = JSON.parse(await readFile(this.masterFile, 'utf8')) as MasterRecord;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'ENOENT' ? `${this.masterFile} was removed` : `${this.masterFile} is unreadable: ${(err as Error).message}`;
    }
    if (rec.token !== this._holder?.token) {
      return `${this.masterFile} names another master: ${rec.broker} pid ${rec.pid} on ${rec.host} (epoch ${rec.epoch})`;
    }
    return null;
  }

  /**
   * Write master.json whole or not at all: a temp file renamed over the old one. Not fsync'd: a sync costs a
   * takeover up to hundreds of ms on a busy disk, and after a power loss every node restarts and the first to open
   * the store writes a new record anyway (an unreadable one only means "holder unknown" to a waiting node).
   */
  private async writeRecord(rec: MasterRecord): Promise<void> {
    const tmp = `${this.masterFile}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(rec)}\n`);
    await rename(tmp, this.masterFile);
  }
}
