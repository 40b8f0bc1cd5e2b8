/**
 * Reading ActiveMQ-style XML: the parse context (file, warnings, one-line errors), child elements, and typed
 * attribute access that warns about attributes it does not know.
 */
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { uriErrorReason } from '../transport/uri.js';

/** Something in the config that ferrymq ignores or reinterprets. */
export interface ConfigWarning {
  file: string | null;
  message: string;
}

export type XNode = { [key: string]: unknown };
/** Carries the file name, warnings and path resolution through the parse. */
export class Ctx {
  readonly warnings: ConfigWarning[] = [];
  readonly defaultData: string;
  constructor(
    readonly file: string | null,
    readonly cwd: string,
  ) {
    this.defaultData = resolve(cwd, 'data');
  }
  warn(message: string): void {
    this.warnings.push({ file: this.file, message });
  }
  fail(where: string, reason: string): never {
    throw new ConfigError(`${this.file ?? '<config>'}: ${where}: ${reason}`.replace(/[\r\n]+/g, ' '));
  }
  failAttr(path: string, attr: string, value: string, reason: string): never {
    return this.fail(`${path} attribute ${attr}=${JSON.stringify(value)}`, reason);
  }
}

/** Child elements of a node, skipping attributes, text, and processing instructions. */
export function children(node: XNode): [string, XNode[]][] {
  return Object.entries(node)
    .filter(([k]) => k !== '@' && k !== '#text' && !k.startsWith('?'))
    .map(([k, v]) => [k, (v as unknown[]).map((c) => (typeof c === 'object' && c !== null ? (c as XNode) : {}))]);
}

/** Typed attribute access for one element; warns once about each attribute it does not know. */
export class Attrs {
  private readonly a: Record<string, string>;
  constructor(
    private readonly ctx: Ctx,
    readonly path: string,
    node: XNode,
    known: readonly string[],
  ) {
    this.a = (node['@'] as Record<string, string> | undefined) ?? {};
    for (const name of Object.keys(this.a)) {
      // Namespace declarations and prefixed (xsi:...) attributes are Spring plumbing, not settings.
      if (known.includes(name) || name === 'xmlns' || name.includes(':')) continue;
      ctx.warn(`${path} attribute ${name} is not supported by ferrymq; ignored`);
    }
  }
  str(name: string): string | undefined {
    const raw = this.a[name];
    if (raw === undefined) return undefined;
    // ActiveMQ's start script sets activemq.data to ${activemq.base}/data; our base is the working directory.
    const v = raw
      .replace(/\$\{activemq\.data\}/g, this.ctx.defaultData)
      .replace(/\$\{activemq\.base\}\/data(?=$|[/\\])/g, this.ctx.defaultData);
    const ph = /\$\{[^}]*\}?/.exec(v);
    if (ph) {
      this.ctx.failAttr(this.path, name, raw, `unknown placeholder ${ph[0]} (only \${activemq.data} is understood)`);
    }
    return v;
  }
  nonEmpty(name: string): string | undefined {
    const v = this.str(name);
    if (v !== undefined && v.trim() === '') this.ctx.failAttr(this.path, name, v, 'must not be empty');
    return v?.trim();
  }
  bool(name: string, def: boolean): boolean {
    const v = this.str(name)?.trim();
    if (v === undefined) return def;
    if (v !== 'true' && v !== 'false') this.ctx.failAttr(this.path, name, v, 'must be true or false');
    return v === 'true';
  }
  int(name: string, def: number, min: number, max: number): number {
    const v = this.str(name)?.trim();
    if (v === undefined) return def;
    const n = /^-?\d{1,10}$/.test(v) ? Number(v) : NaN;
    if (!(n >= min && n <= max)) this.ctx.failAttr(this.path, name, v, `must be an integer ${min}..${max}`);
    return n;
  }
  /** A URI attribute: `parse` errors become ConfigErrors with the element path. */
  uri<T>(name: string, parse: (u: string) => T): { raw: string; value: T } | undefined {
    const raw = this.str(name);
    if (raw === undefined) return undefined;
    try {
      return { raw, value: parse(raw) };
    } catch (e) {
      return this.ctx.failAttr(this.path, name, raw, uriErrorReason(e));
    }
  }
}


/** `64 mb`, `1 gb`, `512kb`, `1048576`: ActiveMQ's memory sizes. */
export function parseSize(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(v);
  if (!m) return undefined;
  const mult = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b'];
  return Math.round(Number(m[1]) * mult);
}

