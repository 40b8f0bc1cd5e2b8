/**
 * `${…}` placeholders the way ActiveMQ's start script and Spring's PropertyPlaceholderConfigurer resolve them:
 * `activemq.base`, `activemq.home`, `activemq.conf` and `activemq.data` from `--base`, the environment
 * (ACTIVEMQ_BASE, …) or the config file's location, then properties read from the configurer's `locations`, then
 * environment variables (Spring's system-environment fallback).
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** Where the `activemq.*` directories come from; every field optional. */
export interface PlaceholderSources {
  /** The config file (absolute), if any: a file in `…/conf/` makes `…` the base, as in an unpacked ActiveMQ. */
  file?: string | null;
  /** `ferrymq start --base DIR` (relative to cwd). */
  base?: string;
  /** ACTIVEMQ_BASE, ACTIVEMQ_HOME, ACTIVEMQ_CONF, ACTIVEMQ_DATA, and any variable a `${NAME}` may name. */
  env?: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

/** Why a placeholder could not be resolved, for a one-line error the user can act on. */
export class UnresolvedPlaceholder extends Error {
  constructor(readonly placeholder: string, readonly hint: string) {
    super(`cannot resolve ${placeholder}: ${hint}`);
  }
}

const BASE_HINT = 'start with --base DIR, set ACTIVEMQ_BASE, or keep the file in DIR/conf/ as ActiveMQ lays it out';

export class Placeholders {
  private readonly props = new Map<string, string>();
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly builtins = new Map<string, string>();
  /** Where each activemq.* value came from, for the log and the README (e.g. "conf/ parent"). */
  readonly baseSource: string | null;

  constructor(src: PlaceholderSources) {
    this.env = src.env ?? {};
    const nonEmpty = (v: string | undefined) => (v !== undefined && v.trim() !== '' ? resolve(src.cwd, v) : undefined);
    let base = nonEmpty(src.base);
    let from: string | null = base !== undefined ? '--base' : null;
    if (base === undefined && (base = nonEmpty(this.env['ACTIVEMQ_BASE'])) !== undefined) from = 'ACTIVEMQ_BASE';
    if (base === undefined && src.file && basename(dirname(src.file)) === 'conf') {
      base = dirname(dirname(src.file));
      from = 'the config file is in its conf/ directory';
    }
    this.baseSource = from;
    // ActiveMQ's bin/activemq: base defaults to home, conf and data to base/conf and base/data.
    const home = nonEmpty(this.env['ACTIVEMQ_HOME']) ?? base;
    const conf = nonEmpty(this.env['ACTIVEMQ_CONF']) ?? (base !== undefined ? join(base, 'conf') : undefined);
    // With no base at all, data is ferrymq's own default (./data), so a lone `${activemq.data}` snippet loads.
    const data = nonEmpty(this.env['ACTIVEMQ_DATA']) ?? join(base ?? src.cwd, 'data');
    for (const [k, v] of [['activemq.base', base], ['activemq.home', home], ['activemq.conf', conf], ['activemq.data', data]] as const) {
      if (v !== undefined) this.builtins.set(k, v);
    }
  }

  /** Add properties read from a PropertyPlaceholderConfigurer location; earlier locations win, as in Spring. */
  addProperties(entries: Iterable<[string, string]>): void {
    for (const [k, v] of entries) if (!this.props.has(k)) this.props.set(k, v);
  }

  /** One placeholder's value, or undefined. */
  lookup(name: string): string | undefined {
    return this.props.get(name) ?? this.builtins.get(name) ?? this.env[name];
  }

  /**
   * Replace every `${name}` (and `${name:default}`, Spring's default syntax) in `value`.
   * @throws UnresolvedPlaceholder naming the first one that has no value, and what would give it one
   */
  expand(value: string, depth = 0): string {
    if (!value.includes('${')) return value;
    return value.replace(/\$\{([^}]*)\}?/g, (whole, inner: string) => {
      if (!whole.endsWith('}')) throw new UnresolvedPlaceholder(whole, 'the placeholder has no closing "}"');
      const colon = inner.indexOf(':');
      const name = (colon < 0 ? inner : inner.slice(0, colon)).trim();
      const found = this.lookup(name) ?? (colon < 0 ? undefined : inner.slice(colon + 1));
      if (found === undefined) throw new UnresolvedPlaceholder(whole, this.hint(name));
      // A property may refer to others (Spring resolves nested placeholders); the depth cap stops a cycle.
      if (depth > 8) throw new UnresolvedPlaceholder(whole, 'placeholders refer to each other in a cycle');
      return this.expand(found, depth + 1);
    });
  }

  private hint(name: string): string {
    switch (name) {
      case 'activemq.base':
      case 'activemq.home':
        return BASE_HINT;
      case 'activemq.conf':
        return `${BASE_HINT}, or set ACTIVEMQ_CONF`;
      default:
        return `no such property in the PropertyPlaceholderConfigurer locations nor in the environment`;
    }
  }
}

/**
 * A Java `.properties` file: `key=value`, `key: value` or `key value`, `#`/`!` comments, `\` line continuations
 * and the usual escapes (\t \n \uXXXX).
 */
export function parseProperties(text: string): [string, string][] {
  const out: [string, string][] = [];
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.replace(/^[ \t\f]+/, '');
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    // An odd number of trailing backslashes continues the line.
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && i + 1 < lines.length) {
      line = line.slice(0, -1) + lines[++i]!.replace(/^[ \t\f]+/, '');
    }
    const m = /^((?:\\.|[^=:\s\\])*)\s*[=:\s]?\s*(.*)$/.exec(line)!;
    out.push([unescape(m[1]!), unescape(m[2]!)]);
  }
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, c: string) => {
    if (c.length === 5) return String.fromCharCode(parseInt(c.slice(1), 16));
    return ({ t: '\t', n: '\n', r: '\r', f: '\f' } as Record<string, string>)[c] ?? c;
  });
}

/** Read a `.properties` file; errors are left to the caller to word. */
export function readProperties(path: string): [string, string][] {
  return parseProperties(readFileSync(path, 'latin1'));
}
