/**
 * The subscriptions of one STOMP connection: the client's ids, the core session's numeric ones, and the ack ids of
 * MESSAGE frames mapped back to (subscription, delivery tag).
 */
import type { AckMode } from '../../protocol/commands.js';
import { DEFAULT_PREFETCH } from '../native-connection.js';
import { required, StompError } from './mapping.js';
import type { StompFrame, StompVersion } from './parser.js';

export type StompAck = 'auto' | 'client' | 'client-individual';
const ACK_MODES: Record<StompAck, AckMode> = { auto: 'auto', client: 'client', 'client-individual': 'individual' };

/** One SUBSCRIBE of the connection. */
export interface Sub {
  /** The client's subscription id (1.0: the destination when none was given). */
  id: string;
  /** The core session's numeric id for it. */
  sid: number;
  ack: StompAck;
  /** The destination as the client named it. */
  destination: string;
  /** message-id → tag of deliveries waiting for an ACK by message-id (1.0/1.1, client modes); null otherwise. */
  ids: Map<string, number> | null;
}

/** SUBSCRIBE's own headers, checked. @throws StompError naming the bad one */
export function subscribeHeaders(f: StompFrame, version: StompVersion): { id: string; destination: string; ack: StompAck; mode: AckMode; prefetch: number } {
  const destination = required(f, 'destination');
  const id = f.headers.get('id') ?? (version === '1.0' ? destination : required(f, 'id'));
  const ack = f.headers.get('ack') ?? 'auto';
  if (!Object.hasOwn(ACK_MODES, ack)) {
    throw new StompError(`SUBSCRIBE: invalid ack ${JSON.stringify(ack.slice(0, 40))}: expected auto, client or client-individual`);
  }
  const pf = f.headers.get('activemq.prefetchSize');
  const prefetch = pf === undefined ? DEFAULT_PREFETCH : /^\d{1,7}$/.test(pf.trim()) ? Number(pf.trim()) : 0;
  if (prefetch < 1) throw new StompError(`SUBSCRIBE: invalid activemq.prefetchSize ${JSON.stringify(pf!.slice(0, 40))}: expected an integer 1..9999999`);
  return { id, destination, ack: ack as StompAck, mode: ACK_MODES[ack as StompAck], prefetch };
}

export class SubscriptionTable {
  readonly byId = new Map<string, Sub>();
  readonly bySid = new Map<number, Sub>();
  private nextSid = 1;

  constructor(private readonly version: () => StompVersion) {}

  /** @throws StompError when the id is in use */
  add(id: string, ack: StompAck, destination: string): Sub {
    if (this.byId.has(id)) throw new StompError(`SUBSCRIBE: subscription id ${JSON.stringify(id)} is already in use on this connection`);
    const sub: Sub = { id, sid: this.nextSid++, ack, destination, ids: ack !== 'auto' && this.version() !== '1.2' ? new Map() : null };
    this.byId.set(id, sub);
    this.bySid.set(sub.sid, sub);
    return sub;
  }

  /** The subscription UNSUBSCRIBE names: by id, or (1.0, no id) by destination. */
  find(f: StompFrame): Sub | undefined {
    const id = f.headers.get('id');
    if (id !== undefined) return this.byId.get(id);
    const dest = this.version() === '1.0' ? f.headers.get('destination') : undefined;
    return dest === undefined ? undefined : [...this.byId.values()].find((s) => s.destination === dest);
  }

  remove(sub: Sub): void {
    this.byId.delete(sub.id);
    this.bySid.delete(sub.sid);
  }

  /** Note a delivery that needs acknowledging. @returns the MESSAGE's ack id (1.2 only) */
  delivered(sub: Sub, messageId: string, tag: number): string | undefined {
    if (this.version() === '1.2') return `${sub.sid}-${tag}`;
    if (sub.ids !== null) {
      sub.ids.delete(messageId); // a redelivery moves to the end: the map stays in tag order
      sub.ids.set(messageId, tag);
    }
    return undefined;
  }

  /** Forget what an ACK (cumulative in client mode) or a NACK took. */
  settled(sub: Sub, tag: number, upto: boolean): void {
    if (sub.ids === null) return;
    for (const [mid, t] of sub.ids) {
      if (t > tag) break;
      if (upto || t === tag) sub.ids.delete(mid);
    }
  }

  /**
   * The delivery an ACK or NACK names: by `id` (1.2: the MESSAGE's ack header) or by `message-id` (1.0/1.1, with
   * `subscription`, required from 1.1 on).
   * @throws StompError when it names nothing outstanding
   */
  target(f: StompFrame): { sub: Sub; tag: number } {
    const version = this.version();
    const id = version === '1.2' ? f.headers.get('id') : undefined;
    if (id !== undefined) {
      const m = /^(\d{1,15})-(\d{1,15})$/.exec(id);
      const sub = m ? this.bySid.get(Number(m[1])) : undefined;
      if (!m || sub === undefined) throw new StompError(`${f.command}: id ${JSON.stringify(id.slice(0, 60))} is not the ack header of an outstanding MESSAGE`);
      if (sub.ack === 'auto') throw this.autoMode(f, sub);
      return { sub, tag: Number(m[2]) };
    }
    const mid = f.headers.get('message-id') ?? required(f, version === '1.2' ? 'id' : 'message-id');
    const subId = f.headers.get('subscription') ?? (version === '1.1' ? required(f, 'subscription') : undefined);
    let candidates = [...this.byId.values()];
    if (subId !== undefined) {
      const sub = this.byId.get(subId);
      if (sub === undefined) throw new StompError(`${f.command}: no subscription ${JSON.stringify(subId)} on this connection`);
      if (sub.ack === 'auto') throw this.autoMode(f, sub);
      candidates = [sub];
    }
    for (const sub of candidates) {
      const tag = sub.ids?.get(mid);
      if (tag !== undefined) return { sub, tag };
    }
    const of = subId !== undefined ? ` of subscription ${JSON.stringify(subId)}` : '';
    throw new StompError(`${f.command}: message-id ${JSON.stringify(mid.slice(0, 80))} is not an outstanding message${of}`);
  }

  private autoMode(f: StompFrame, sub: Sub): StompError {
    return new StompError(`${f.command}: subscription ${JSON.stringify(sub.id)} uses ack:auto; nothing to acknowledge`);
  }
}
