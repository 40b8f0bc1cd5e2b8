import type { DestinationStats } from '../protocol/commands.js';

/** Samples kept: one a second, five minutes. */
export const RATE_HISTORY_SAMPLES = 300;
/**
 * Destinations with their own history. Each costs two float arrays of {@link RATE_HISTORY_SAMPLES}; a broker with
 * more destinations charts the first ones seen (the totals chart still counts them all).
 */
export const MAX_CHARTED_DESTINATIONS = 1000;

interface Series {
  in: Float32Array;
  out: Float32Array;
}

/** A destination's (or the broker's) messages in and out per second, oldest first; `t` in seconds since the epoch. */
export interface RateSeries {
  t: number[];
  in: number[];
  out: number[];
}

/**
 * Message rates from the broker's counters, sampled every second by the console's tick: enqueued and dequeued
 * deltas divided by the time between samples. All series share one ring of timestamps.
 */
export class RateHistory {
  private readonly times = new Float64Array(RATE_HISTORY_SAMPLES);
  private head = 0;
  private count = 0;
  private lastAt = 0;
  private readonly last = new Map<string, { enq: number; deq: number }>();
  private readonly series = new Map<string, Series>();
  private readonly total: Series = newSeries();
  /** The latest sample's rates, by destination name. */
  readonly latest = new Map<string, { in: number; out: number }>();

  sample(nowMs: number, rows: readonly DestinationStats[]): void {
    const dt = this.lastAt === 0 ? 1 : Math.max(0.001, (nowMs - this.lastAt) / 1000);
    this.lastAt = nowMs;
    const i = this.head;
    this.times[i] = nowMs / 1000;
    for (const s of this.series.values()) s.in[i] = s.out[i] = 0;
    let tin = 0;
    let tout = 0;
    const seen = new Set<string>();
    for (const r of rows) {
      seen.add(r.name);
      const prev = this.last.get(r.name);
      // Counters start at zero when a destination is created, so a new one's counts all came since the last sample;
      // a counter that went down is a destination deleted and created again: count from zero too.
      const din = prev === undefined || r.enqueueCount < prev.enq ? r.enqueueCount : r.enqueueCount - prev.enq;
      const dout = prev === undefined || r.dequeueCount < prev.deq ? r.dequeueCount : r.dequeueCount - prev.deq;
      if (prev === undefined) this.last.set(r.name, { enq: r.enqueueCount, deq: r.dequeueCount });
      else {
        prev.enq = r.enqueueCount;
        prev.deq = r.dequeueCount;
      }
      const rin = din / dt;
      const rout = dout / dt;
      this.latest.set(r.name, { in: rin, out: rout });
      // Topics are charted by what they receive; their "out" counts copies to subscribers.
      tin += rin;
      if (r.kind === 'queue') tout += rout;
      let s = this.series.get(r.name);
      if (s === undefined && this.series.size < MAX_CHARTED_DESTINATIONS) this.series.set(r.name, (s = newSeries()));
      if (s !== undefined) {
        s.in[i] = rin;
        s.out[i] = rout;
      }
    }
    for (const name of this.last.keys()) {
      if (seen.has(name)) continue;
      this.last.delete(name);
      this.series.delete(name);
      this.latest.delete(name);
    }
    this.total.in[i] = tin;
    this.total.out[i] = tout;
    this.head = (i + 1) % RATE_HISTORY_SAMPLES;
    this.count = Math.min(this.count + 1, RATE_HISTORY_SAMPLES);
  }

  /** The newest sample of the broker's totals, or null before the first. */
  latestTotal(): { t: number; in: number; out: number } | null {
    if (this.count === 0) return null;
    const j = (this.head - 1 + RATE_HISTORY_SAMPLES) % RATE_HISTORY_SAMPLES;
    return { t: this.times[j]!, in: round(this.total.in[j]!), out: round(this.total.out[j]!) };
  }

  /** The whole broker's rates. */
  totals(): RateSeries {
    return this.read(this.total);
  }

  /** One destination's rates, or null when it is not charted (unknown, or beyond {@link MAX_CHARTED_DESTINATIONS}). */
  of(name: string): RateSeries | null {
    const s = this.series.get(name);
    return s === undefined ? null : this.read(s);
  }

  private read(s: Series): RateSeries {
    const out: RateSeries = { t: [], in: [], out: [] };
    const start = (this.head - this.count + RATE_HISTORY_SAMPLES) % RATE_HISTORY_SAMPLES;
    for (let k = 0; k < this.count; k++) {
      const j = (start + k) % RATE_HISTORY_SAMPLES;
      out.t.push(this.times[j]!);
      out.in.push(round(s.in[j]!));
      out.out.push(round(s.out[j]!));
    }
    return out;
  }
}

function newSeries(): Series {
  return { in: new Float32Array(RATE_HISTORY_SAMPLES), out: new Float32Array(RATE_HISTORY_SAMPLES) };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
