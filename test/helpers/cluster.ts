import { type BrokerProcess, startBroker, type StartOptions, type Teardown } from './broker.js';

/** A port nothing listens on now: for brokers that must know each other's address. */
export { freePort } from './proc.js';

export interface NodeOptions extends StartOptions {
  name: string;
  /** `--network` URIs. */
  network?: string[];
}

/** A broker process named `name` with network connectors. */
export function startNode(t: Teardown, opts: NodeOptions): Promise<BrokerProcess> {
  const args = ['--name', opts.name, ...(opts.network ?? []).flatMap((n) => ['--network', n]), ...(opts.args ?? [])];
  return startBroker(t, { ...opts, args });
}

/** Resolves once `b` logs that a bridge of its reached broker `peer`. */
export function bridgeUp(b: BrokerProcess, peer: string, after = 0): Promise<unknown> {
  let seen = 0;
  return b.waitForLog(
    (l) => String(l['msg']).startsWith('network bridge') && String(l['msg']).includes(' up: ') && l['remoteBroker'] === peer && ++seen > after,
    `network bridge up to ${peer}`,
  );
}

/** Resolves once `b` logs demand for `dest` from its peer (a bridge is forwarding it). */
export function demandFor(b: BrokerProcess, dest: string, after = 0): Promise<unknown> {
  let seen = 0;
  return b.waitForLog((l) => String(l['msg']).startsWith(`demand for ${dest} `) && ++seen > after, `demand for ${dest}`);
}

export const tcp = (port: number): string => `tcp://127.0.0.1:${port}`;
