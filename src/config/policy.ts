import { isWildcard } from '../model/destination.js';
import type { DeadLetterStrategy, PolicyEntry } from '../model/policy.js';

export type { DeadLetterStrategy, PolicyEntry } from '../model/policy.js';
import { Attrs, type Ctx, children, parseSize, type XNode } from './xml.js';

/**
 * `<destinationPolicy><policyMap><policyEntries><policyEntry …>`, in ActiveMQ's vocabulary. Attributes ferrymq does
 * not implement get a warning each, like anything else unknown.
 */
export function readPolicies(ctx: Ctx, path: string, node: XNode): PolicyEntry[] {
  const out: PolicyEntry[] = [];
  for (const [n1, l1] of children(node)) {
    const p1 = `${path}<${n1}>`;
    if (n1 !== 'policyMap') {
      ctx.warn(`${p1} is not a known element; ignored`);
      continue;
    }
    for (const pm of l1) {
      new Attrs(ctx, p1, pm, []);
      for (const [n2, l2] of children(pm)) {
        const p2 = `${p1}<${n2}>`;
        if (n2 !== 'policyEntries') {
          ctx.warn(`${p2} is not a known element; ignored`);
          continue;
        }
        for (const pe of l2) {
          for (const [n3, l3] of children(pe)) {
            const p3 = `${p2}<${n3}>`;
            if (n3 !== 'policyEntry') {
              ctx.warn(`${p3} is not a known element; ignored`);
              continue;
            }
            for (const entry of l3) out.push(readEntry(ctx, p3, entry));
          }
        }
      }
    }
  }
  return out;
}

function readEntry(ctx: Ctx, path: string, node: XNode): PolicyEntry {
  const a = new Attrs(ctx, path, node, ['queue', 'topic', 'memoryLimit', 'maximumRedeliveries', 'redeliveryDelay']);
  const queue = a.nonEmpty('queue');
  const topic = a.nonEmpty('topic');
  if ((queue === undefined) === (topic === undefined)) ctx.fail(path, 'needs exactly one of the attributes queue and topic');
  const pattern = (queue ?? topic)!;
  if (/[\x00-\x1f]/.test(pattern)) ctx.failAttr(path, queue ? 'queue' : 'topic', pattern, 'contains a control character');
  const entry: PolicyEntry = { kind: queue !== undefined ? 'queue' : 'topic', pattern };
  const limit = a.str('memoryLimit');
  if (limit !== undefined) {
    const bytes = parseSize(limit);
    if (bytes === undefined || bytes < 64 * 1024) ctx.failAttr(path, 'memoryLimit', limit, 'must be a size of at least 64 kb, e.g. "16 mb"');
    entry.memoryLimitBytes = bytes;
  }
  const max = a.int('maximumRedeliveries', -2, -1, 2147483647);
  if (max !== -2) entry.maximumRedeliveries = max;
  const delay = a.int('redeliveryDelay', -1, 0, 2147483647);
  if (delay >= 0) entry.redeliveryDelayMs = delay;
  for (const [n, l] of children(node)) {
    const p = `${path}<${n}>`;
    if (n !== 'deadLetterStrategy') {
      ctx.warn(`${p} is not supported by ferrymq; ignored`);
      continue;
    }
    for (const dls of l) {
      for (const [kind, kl] of children(dls)) {
        const pk = `${p}<${kind}>`;
        for (const k of kl) {
          if (kind === 'sharedDeadLetterStrategy') {
            const ka = new Attrs(ctx, pk, k, ['deadLetterQueue']);
            const q = ka.nonEmpty('deadLetterQueue') ?? 'ActiveMQ.DLQ';
            if (isWildcard(q)) ctx.failAttr(pk, 'deadLetterQueue', q, 'must not be a wildcard');
            entry.deadLetterStrategy = { kind: 'shared', queue: q };
          } else if (kind === 'individualDeadLetterStrategy') {
            const ka = new Attrs(ctx, pk, k, ['queuePrefix', 'topicPrefix', 'useQueueForQueueMessages']);
            entry.deadLetterStrategy = {
              kind: 'individual',
              queuePrefix: ka.str('queuePrefix') ?? 'ActiveMQ.DLQ.Queue.',
              topicPrefix: ka.str('topicPrefix') ?? 'ActiveMQ.DLQ.Topic.',
              useQueueForQueueMessages: ka.bool('useQueueForQueueMessages', true),
            };
          } else {
            ctx.warn(`${pk} is not a known element; ignored`);
          }
        }
      }
    }
  }
  return entry;
}
