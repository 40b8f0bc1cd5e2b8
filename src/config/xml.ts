/**
 * Reading ActiveMQ-style XML: the parse context (file, warnings, one-line errors), child elements, and typed
 * attribute access that warns about attributes it does not know.
 */
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { uriErrorReason } from '../transport/uri.js';
import { Placeholders, UnresolvedPlaceholder } from './placeholders.js';

import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** Something in the config that ferrymq ignores or reinterprets. */
export interface ConfigWarning {
  file: string | null;
  message: string;
}

export type XNode = { [key: string]: unknown };
/** Carries the file name, warnings, placeholders and path resolution through the parse. */
export class Ctx {
  readonly defaultData: string;
  constructor(
    readonly file: string | null,
    readonly cwd: string,
    readonly placeholders: Placeholders = new Placeholders({ cwd }),
    /** Shared with the contexts of imported files, so one list comes back. */
    readonly warnings: ConfigWarning[] = [],
  ) {
    this.defaultData = resolve(cwd, 'data');
  }
  /** The same parse, reading another (imported) file: its warnings and errors name that file. */
  forFile(file: string): Ctx {
    return new Ctx(file, this.cwd, this.placeholders, this.warnings);
  }
  /**
   * `${…}` placeholders resolved; `where` names the element and attribute for the error.
   * @throws ConfigError naming the placeholder and how to give it a value
   */
  expand(value: string, where: string): string {
    try {
      return this.placeholders.expand(value);
    } catch (e) {
      if (e instanceof UnresolvedPlaceholder) this.fail(where, e.message);
      throw e;
    }
  }
  warn(message: string): void {
    // The same thing said twice (producerFlowControl on every policy entry) is one warning.
    if (this.warnings.some((w) => w.message === message && w.file === this.file)) return;
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
    return this.ctx.expand(raw, `${this.path} attribute ${name}=${JSON.stringify(raw)}`);
  }
  /**
   * A directory attribute. A Windows drive path (the tutorial's `D://Program Files/…/kahadb`) would become a
   * directory named `D:` under the working directory on Linux, so it is refused, naming the path.
   */
  dir(name: string): string | undefined {
    const v = this.nonEmpty(name);
    if (v !== undefined && process.platform !== 'win32' && /^[A-Za-z]:[\\/]/.test(v)) {
      this.ctx.failAttr(
        this.path, name, v,
        `a Windows path cannot be used on ${process.platform}; give a path such as /var/lib/ferrymq/kahadb or \${activemq.data}/kahadb`,
      );
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


/** `64 mb`, `1 gb`, `2 g`, `512kb`, `1048576`: ActiveMQ's memory sizes (its MemoryPropertyEditor takes k, m, g too). */
export function parseSize(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb?|mb?|gb?)?\s*$/i.exec(v);
  if (!m) return undefined;
  const mult = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? 'b')[0]!.toLowerCase() as 'b'];
  return Math.round(Number(m[1]) * mult);
}


/** Undo the tutorial's `<networkConnections>…</networkConnection>` typo so its snippet loads (with a warning). */
function repairTutorialTypo(ctx: Ctx, xml: string): string {
  for (let i = 0; i < 16; i++) {
    const r = XMLValidator.validate(xml);
    if (r === true) return xml;
    const m = /Expected closing tag 'networkConnections'.*instead of closing tag 'networkConnection'/.exec(r.err.msg);
    const lineStart = xml.split('\n').slice(0, r.err.line - 1).join('\n').length + (r.err.line > 1 ? 1 : 0);
    const at = lineStart + (r.err.col ?? 1) - 1;
    const close = /^<\/networkConnection\s*>/.exec(xml.slice(at));
    const where = `malformed XML at line ${r.err.line}${r.err.col ? `, column ${r.err.col}` : ''}`;
    if (!m || !close) ctx.fail(where, r.err.msg);
    ctx.warn(`line ${r.err.line}: </networkConnection> closes <networkConnections>; read as </networkConnections>`);
    xml = xml.slice(0, at) + '</networkConnections>' + xml.slice(at + close[0].length);
  }
  return ctx.fail('malformed XML', 'too many mismatched closing tags');
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  attributesGroupName: '@', // keeps attributes apart from child elements of the same name
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  isArray: (_n: string, _p: unknown, _leaf: boolean, isAttr: boolean) => !isAttr, // so repeats are visible
});

/**
 * Parse XML text into the element tree the readers walk (attributes under '@', every element a list).
 * @throws ConfigError naming the line and column of malformed XML
 */
export function parseXml(ctx: Ctx, xml: string): XNode {
  try {
    return parser.parse(repairTutorialTypo(ctx, xml)) as XNode;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    return ctx.fail('malformed XML', e instanceof Error ? e.message : String(e));
  }
}
