/**
 * The Spring scaffolding around a real activemq.xml: `<beans>` with a PropertyPlaceholderConfigurer (its
 * `.properties` locations feed the `${…}` placeholders), `<import resource="jetty.xml"/>` (ferrymq reads the web
 * console's host and port from its `jettyPort` WebConsolePort bean, as the tutorial sets 8162/8163) and other beans,
 * which are ignored with one warning each (one per imported file).
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { isIP } from 'node:net';
import { readProperties } from './placeholders.js';
import { Attrs, children, type Ctx, parseXml, type XNode } from './xml.js';

/** The web console address from a WebConsolePort bean; `where` names the bean for a warning. */
export interface JettyConsole {
  host?: string;
  port?: number;
  where: string;
}

/** What the Spring part of the file(s) yields: the one `<broker>` (with the context of its file) and the console. */
export interface SpringResult {
  brokers: { node: XNode; ctx: Ctx; path: string }[];
  console: JettyConsole | null;
}

/** Imports nested deeper than this are a loop (a.xml imports b.xml imports a.xml). */
const MAX_IMPORT_DEPTH = 8;

const cls = (node: XNode): string => ((node['@'] as Record<string, string> | undefined)?.['class'] ?? '').trim();
const isPlaceholderConfigurer = (node: XNode): boolean => /\.Property(Sources)?PlaceholderConfigurer$/.test(cls(node));
const isWebConsolePort = (node: XNode): boolean => cls(node).endsWith('.WebConsolePort');

/** The text of `<value>…</value>` as the parser gives it (a string, or an object with #text). */
function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null) {
    const t = (v as XNode)['#text'];
    return Array.isArray(t) ? t.join('') : typeof t === 'string' ? t : '';
  }
  return '';
}

/** `<property name=… value=…/>`, `<property name=…><value>…</value></property>` or `…<list><value>…</value>…</list>`. */
function propertyValues(node: XNode): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of (node['property'] as XNode[] | undefined) ?? []) {
    const at = (p['@'] as Record<string, string> | undefined) ?? {};
    const name = at['name'];
    if (name === undefined) continue;
    const values: string[] = [];
    if (at['value'] !== undefined) values.push(at['value']);
    for (const v of (p['value'] as unknown[] | undefined) ?? []) values.push(textOf(v).trim());
    for (const l of (p['list'] as XNode[] | undefined) ?? []) {
      for (const v of (l['value'] as unknown[] | undefined) ?? []) values.push(textOf(v).trim());
    }
    out.set(name, values);
  }
  return out;
}

/**
 * A Spring resource (`file:…`, a plain path, relative to the file that names it). `classpath:` and URLs cannot be
 * read here: null, and the caller warns.
 */
function resourcePath(ctx: Ctx, resource: string): string | null {
  const r = resource.trim();
  if (/^(classpath\*?|https?|jar):/i.test(r)) return null;
  const p = r.replace(/^file:(\/\/)?/i, '');
  if (isAbsolute(p)) return p;
  return resolve(ctx.file ? dirname(resolve(ctx.cwd, ctx.file)) : ctx.cwd, p);
}

/** Load the `.properties` files of a PropertyPlaceholderConfigurer into the placeholders. */
function readConfigurer(ctx: Ctx, path: string, node: XNode): void {
  const props = propertyValues(node);
  const ignoreMissing = (props.get('ignoreResourceNotFound') ?? [])[0] === 'true';
  for (const loc of [...(props.get('location') ?? []), ...(props.get('locations') ?? [])]) {
    const where = `${path} location ${JSON.stringify(loc)}`;
    const file = resourcePath(ctx, ctx.expand(loc, where));
    if (file === null) {
      ctx.warn(`${where} is not a file ferrymq can read; ignored`);
      continue;
    }
    let entries: [string, string][];
    try {
      entries = readProperties(file);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
      if (ignoreMissing) {
        ctx.warn(`${where}: ${file}: ${why}; ignored (ignoreResourceNotFound)`);
        continue;
      }
      ctx.fail(where, `${file}: ${why}`);
    }
    ctx.placeholders.addProperties(entries);
  }
}

/** `<bean class="org.apache.activemq.web.WebConsolePort"><property name="host|port" value=…/></bean>`. */
function readWebConsolePort(ctx: Ctx, path: string, node: XNode): JettyConsole {
  const props = propertyValues(node);
  const out: JettyConsole = { where: `${ctx.file ?? '<config>'}: ${path}` };
  for (const [name, values] of props) {
    const raw = values[0];
    if (raw === undefined) continue;
    if (name !== 'host' && name !== 'port') {
      ctx.warn(`${path} property ${name} is not supported by ferrymq; ignored`);
      continue;
    }
    if (raw.startsWith('#{')) {
      // Spring EL (#{systemProperties['jetty.port']}) reads Java system properties, which ferrymq does not have.
      ctx.warn(`${path} property ${name}=${JSON.stringify(raw)} is a Spring expression; ignored`);
      continue;
    }
    const v = ctx.expand(raw, `${path} property ${name}=${JSON.stringify(raw)}`).trim();
    if (name === 'port') {
      const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
      if (!(n >= 0 && n <= 65535)) ctx.fail(`${path} property port=${JSON.stringify(v)}`, 'must be an integer 0..65535');
      out.port = n;
    } else {
      if (isIP(v) === 0 && !/^[A-Za-z0-9_.-]+$/.test(v)) ctx.fail(`${path} property host=${JSON.stringify(v)}`, 'not a host name or IP');
      out.host = v;
    }
  }
  return out;
}

function beanLabel(node: XNode): string {
  const id = (node['@'] as Record<string, string> | undefined)?.['id'];
  return `${id !== undefined ? `id="${id}" ` : ''}(${cls(node) || 'no class'})`;
}

/**
 * Walk a `<beans>` element (the config file's root, or an imported file's): placeholder configurers first, so the
 * broker and the imports can use their properties; then brokers, beans and imports in document order.
 */
export function readBeans(ctx: Ctx, path: string, beans: XNode, out: SpringResult = { brokers: [], console: null }, depth = 0): SpringResult {
  new Attrs(ctx, path, beans, ['default-lazy-init', 'default-init-method', 'default-destroy-method', 'default-autowire']);
  const inner = children(beans);
  for (const [name, list] of inner) {
    if (name === 'bean') for (const b of list) if (isPlaceholderConfigurer(b)) readConfigurer(ctx, `${path}<bean> ${beanLabel(b)}`, b);
  }
  const ignoredBeans: string[] = [];
  for (const [name, list] of inner) {
    for (const n of list) {
      const p = `${path}<${name}>`;
      if (name === 'broker') out.brokers.push({ node: n, ctx, path: p });
      else if (name === 'bean') {
        if (isPlaceholderConfigurer(n)) continue;
        if (isWebConsolePort(n)) out.console = readWebConsolePort(ctx, `${p} ${beanLabel(n)}`, n);
        else if (depth === 0) ctx.warn(`${p} ${beanLabel(n)} is ignored: ferrymq reads only PropertyPlaceholderConfigurer and WebConsolePort beans`);
        else ignoredBeans.push((n['@'] as Record<string, string> | undefined)?.['id'] ?? cls(n));
      } else if (name === 'import') readImport(ctx, p, n, out, depth);
      else if (name === 'camelContext') ctx.warn(`${p} is ignored: ferrymq does not run Camel routes`);
      else ctx.warn(`${p} is not a known element; ignored`);
    }
  }
  if (ignoredBeans.length > 0) {
    ctx.warn(
      `${path}: ${ignoredBeans.length} bean(s) ignored (${ignoredBeans.join(', ')}): ferrymq reads only ` +
        'PropertyPlaceholderConfigurer and WebConsolePort beans',
    );
  }
  return out;
}

/** `<import resource="jetty.xml"/>`: read the file (relative to this one) and walk its `<beans>`. */
function readImport(ctx: Ctx, path: string, node: XNode, out: SpringResult, depth: number): void {
  const a = new Attrs(ctx, path, node, ['resource']);
  const resource = a.nonEmpty('resource');
  if (resource === undefined) ctx.fail(path, 'attribute resource is required');
  const file = resourcePath(ctx, resource);
  if (file === null) {
    ctx.warn(`${path} resource="${resource}" is not a file ferrymq can read; ignored`);
    return;
  }
  if (depth >= MAX_IMPORT_DEPTH) ctx.fail(`${path} resource="${resource}"`, `imports nested more than ${MAX_IMPORT_DEPTH} deep (a loop?)`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    return ctx.fail(`${path} attribute resource=${JSON.stringify(resource)}`, `${file}: ${why}`);
  }
  const sub = ctx.forFile(file);
  const roots = children(parseXml(sub, text));
  const root = roots.find(([n]) => n === 'beans');
  if (root === undefined || roots.length !== 1) {
    return sub.fail('root', `an imported file must have one <beans> root element, found ${roots.map(([n]) => `<${n}>`).join(', ') || 'none'}`);
  }
  readBeans(sub, `<beans>`, root[1][0]!, out, depth + 1);
}

/** For a file with no broker: say what it is, so the user starts the right one. */
export function notABrokerHint(file: string | null, inner: [string, XNode[]][]): string {
  const names = inner.map(([n]) => n);
  const base = file ? basename(file) : 'this file';
  if (names.includes('camelContext')) return `${base} holds Camel routes; start the activemq.xml that imports it`;
  if (names.includes('bean')) return `${base} holds only Spring beans (jetty.xml-like); start the activemq.xml that imports it`;
  return 'a broker configuration has one <broker> element';
}
