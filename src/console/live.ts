import type { ServerResponse } from 'node:http';
import type { BrokerEventName, BrokerEvents } from '../broker/events.js';

/** Browsers watching at once; past this a new one gets 503 (each costs a JSON snapshot a second). */
export const MAX_EVENT_CLIENTS = 64;
/** A client this far behind (bytes not yet taken by its socket) is dropped: it reconnects and starts afresh. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Broker events within this window reach the browsers as one `change` event. */
const CHANGE_COALESCE_MS = 200;

const WATCHED: readonly BrokerEventName[] = [
  'connectionOpened',
  'connectionClosed',
  'consumerAdded',
  'consumerRemoved',
  'destinationAdded',
  'destinationRemoved',
  'messageDeadLettered',
  'messageExpired',
];

/**
 * Server-sent events to the pages: a `stats` event every second (from the console's tick) and a `change` event
 * naming the broker events of the last moment (a page then reloads the list they touch). A burst of broker events
 * — a thousand consumers connecting — is one `change`, not a thousand.
 */
export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  private pending = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly unsubscribe: (() => void)[] = [];

  get size(): number {
    return this.clients.size;
  }

  /** Listen to the broker's events; events before this call are not seen (the console starts before the broker). */
  watch(events: BrokerEvents): void {
    for (const name of WATCHED) this.unsubscribe.push(events.on(name, () => this.changed(name)));
  }

  /** @returns false when there are too many clients already (the caller answers 503). */
  add(res: ServerResponse, first: unknown): boolean {
    if (this.clients.size >= MAX_EVENT_CLIENTS) return false;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: 2000\n\n`);
    res.write(frame('stats', first));
    this.clients.add(res);
    const drop = (): void => {
      this.clients.delete(res);
    };
    res.once('close', drop);
    // `on`, not `once`: a second error on a dying socket must not become an unhandled 'error' event.
    res.on('error', drop);
    return true;
  }

  /** Send one event to every client. The payload is serialised once. */
  broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const f = frame(event, data);
    for (const c of this.clients) {
      if (c.writableLength > MAX_BUFFERED_BYTES) {
        this.clients.delete(c);
        c.destroy();
        continue;
      }
      c.write(f);
    }
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  private changed(name: string): void {
    if (this.clients.size === 0) return;
    this.pending.set(name, (this.pending.get(name) ?? 0) + 1);
    if (this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      const counts = Object.fromEntries(this.pending);
      this.pending = new Map();
      this.broadcast('change', { events: counts });
    }, CHANGE_COALESCE_MS);
    this.flushTimer.unref();
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
