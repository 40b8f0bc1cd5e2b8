/**
 * JMS message selectors: the SQL-92 conditional-expression subset of JMS 1.1 §3.8.1, with the
 * ActiveMQ extensions (`<`/`>` on strings, `%`, hex/octal literals, `--` and `/* *\/` comments,
 * dots in identifiers). Hand-written lexer and recursive-descent parser that compiles straight to
 * closures, so a selector is parsed once and evaluating it never re-walks a syntax tree.
 *
 * Semantics: SQL three-valued logic, UNKNOWN represented as `null`. An absent property is NULL.
 * Comparing values of different types, arithmetic on non-numbers, division by zero, LIKE/IN on a
 * non-string: all UNKNOWN, never an error. A message matches only when the selector is TRUE.
 */

export type SelectorValue = string | number | boolean | null;
/** What a selector can see of a message. `get(name)` returns the JMS header or property value, or undefined when absent. */
export interface SelectorSubject { get(name: string): SelectorValue | undefined }
export interface Selector { readonly source: string; matches(subject: SelectorSubject): boolean }

export const MAX_SELECTOR_LENGTH = 4096;

/** A selector that does not parse. `position` is the 1-based column of the offending input. */
export class SelectorError extends Error {
  readonly code = 'FERRY_INVALID_SELECTOR';
  constructor(message: string, readonly position: number) {
    super(message);
    this.name = 'SelectorError';
  }
}

type Ev = (s: SelectorSubject) => SelectorValue;
/** Static kind: 'bool' for conditions, 'any' for identifiers (whose type is only known per message). */
type Kind = 'bool' | 'num' | 'str' | 'null' | 'any';
interface Node { ev: Ev; kind: Kind; col: number; lit?: { v: SelectorValue } }
type TokType = 'id' | 'kw' | 'num' | 'str' | 'op' | 'eof';
interface Tok { t: TokType; v: string | number; col: number; text: string }

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IN', 'LIKE', 'ESCAPE', 'BETWEEN', 'IS', 'NULL', 'TRUE', 'FALSE']);
const ID_START = /[\p{ID_Start}_$]/u;
const ID_PART = /[\p{ID_Continue}_$.\u200c\u200d]*/uy;
const WS = /(?:[ \t\n\r\f]+|--[^\n\r]*|\/\*[^]*?\*\/)*/y;
const HEX = /0[xX][0-9a-fA-F]+[lL]?/y;
const FLOAT = /(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+/y;
const INT = /\d+[lL]?/y;
const OPS = ['<>', '<=', '>=', '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', ','];

function lex(src: string, fail: (col: number, msg: string) => never): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const at = (re: RegExp): string | null => { re.lastIndex = i; const m = re.exec(src); return m ? m[0] : null; };
  for (;;) {
    i += at(WS)!.length;
    if (src.startsWith('/*', i)) fail(i + 1, 'unterminated comment');
    const col = i + 1;
    if (i >= src.length) { toks.push({ t: 'eof', v: '', col, text: '' }); return toks; }
    const c = String.fromCodePoint(src.codePointAt(i)!);
    if (c === "'") {
      let j = i + 1, v = '';
      for (;;) {
        const q = src.indexOf("'", j);
        if (q < 0) fail(col, 'unterminated string literal');
        v += src.slice(j, q);
        if (src[q + 1] !== "'") { j = q + 1; break; }
        v += "'"; j = q + 2;
      }
      toks.push({ t: 'str', v, col, text: src.slice(i, j) }); i = j; continue;
    }
    if (/[0-9.]/.test(c) && /\d/.test(src[c === '.' ? i + 1 : i] ?? '')) {
      let text = at(HEX), v: number;
      if (text) v = parseInt(text.replace(/[lL]$/, '').slice(2), 16);
      else if ((text = at(FLOAT))) v = Number(text);
      else {
        text = at(INT)!;
        const digits = text.replace(/[lL]$/, '');
        if (digits.length > 1 && digits[0] === '0') {
          if (/[89]/.test(digits)) fail(col, `invalid octal literal "${text}"`);
          v = parseInt(digits, 8);
        } else v = Number(digits);
      }
      const next = src[i + text.length];
      if (next !== undefined && (ID_START.test(next) || /[\d.]/.test(next))) fail(col, `malformed number "${text}${next}"`);
      toks.push({ t: 'num', v, col, text }); i += text.length; continue;
    }
    if (ID_START.test(c)) {
      ID_PART.lastIndex = i + c.length;
      const text = c + ID_PART.exec(src)![0];
      const up = text.toUpperCase();
      toks.push(KEYWORDS.has(up) ? { t: 'kw', v: up, col, text } : { t: 'id', v: text, col, text });
      i += text.length; continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) return fail(col, `unexpected character "${c}"${c === '!' ? ' (use <> for not-equal)' : ''}`);
    toks.push({ t: 'op', v: op, col, text: op }); i += op.length;
  }
}

// ---- runtime helpers (three-valued logic: true / false / null = UNKNOWN) ----

const toBool = (f: Ev): Ev => (s) => { const v = f(s); return typeof v === 'boolean' ? v : null; };
const and3 = (a: SelectorValue, b: SelectorValue): SelectorValue => (a === false || b === false ? false : a === true && b === true ? true : null);
const or3 = (a: SelectorValue, b: SelectorValue): SelectorValue => (a === true || b === true ? true : a === false && b === false ? false : null);
const not3 = (a: SelectorValue): SelectorValue => (a === null ? null : !a);

type Cmp = (a: SelectorValue, b: SelectorValue) => SelectorValue;
/** Same-typed, non-null operands compare; anything else is UNKNOWN. Booleans only support = and <>. */
const ord = (test: (a: number | string, b: number | string) => boolean): Cmp => (a, b) =>
  a === null || b === null || typeof a !== typeof b || typeof a === 'boolean' ? null : test(a as number, b as number);
const CMP: Record<string, Cmp> = {
  '=': (a, b) => (a === null || b === null || typeof a !== typeof b ? null : a === b),
  '<>': (a, b) => (a === null || b === null || typeof a !== typeof b ? null : a !== b),
  '<': ord((a, b) => a < b), '>': ord((a, b) => a > b), '<=': ord((a, b) => a <= b), '>=': ord((a, b) => a >= b),
};
type Arith = (a: number, b: number) => number | null;
const ARITH: Record<string, Arith> = {
  '+': (a, b) => a + b, '-': (a, b) => a - b, '*': (a, b) => a * b,
  '/': (a, b) => (b === 0 ? null : a / b), '%': (a, b) => (b === 0 ? null : a % b),
};

/** Translate a LIKE pattern (`%` any run, `_` one char, optional escape) to an anchored RegExp. */
function likeRegExp(pattern: string, escape: string | undefined, fail: (msg: string) => never): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    let c = pattern[i]!;
    if (c === escape) {
      if (++i >= pattern.length) fail('LIKE pattern ends with the escape character');
      c = pattern[i]!;
    } else if (c === '%') { re += '.*'; continue; } else if (c === '_') { re += '.'; continue; }
    re += c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** Parse and compile once; throws SelectorError naming the 1-based column and what was expected. */
export function compileSelector(source: string): Selector {
  if (typeof source !== 'string') throw new SelectorError(`selector at column 1: expected a string, got ${typeof source}`, 1);
  const shown = JSON.stringify(source.length > 80 ? `${source.slice(0, 77)}...` : source);
  const fail = (col: number, msg: string): never => { throw new SelectorError(`selector ${shown} at column ${col}: ${msg}`, col); };
  if (source.length > MAX_SELECTOR_LENGTH) fail(MAX_SELECTOR_LENGTH + 1, `selector is ${source.length} characters long, the maximum is ${MAX_SELECTOR_LENGTH}`);

  const toks = lex(source, fail);
  let p = 0;
  const peek = (): Tok => toks[p]!;
  const describe = (t: Tok): string => (t.t === 'eof' ? 'end of input' : `"${t.text}"`);
  const expected = (what: string, t = peek()): never => fail(t.col, `expected ${what}, got ${describe(t)}`);
  const isKw = (kw: string, t = peek()): boolean => t.t === 'kw' && t.v === kw;
  const isOp = (op: string, t = peek()): boolean => t.t === 'op' && t.v === op;
  const eatKw = (kw: string): boolean => (isKw(kw) ? (p++, true) : false);
  const needKw = (kw: string, what = kw): void => { if (!eatKw(kw)) expected(what); };
  const needOp = (op: string, what = `"${op}"`): void => { if (isOp(op)) p++; else expected(what); };

  /** Operands of AND / OR / NOT and the whole selector must be conditions (identifiers are cast at runtime). */
  const cond = (n: Node): Ev => {
    if (n.kind === 'bool' || n.kind === 'null') return n.ev;
    if (n.kind === 'any') return toBool(n.ev);
    return fail(n.col, `expected a boolean expression, got a ${n.kind === 'num' ? 'numeric' : 'string'} value`);
  };
  const bool = (ev: Ev, col: number): Node => ({ ev, kind: 'bool', col });
  const noNull = (n: Node, op: string): void => {
    if (n.kind === 'null') fail(n.col, `NULL cannot be compared with ${op}; use IS NULL or IS NOT NULL`);
  };
  const stringLit = (what: string): string => {
    const t = peek();
    if (t.t !== 'str') expected(what);
    p++;
    return t.v as string;
  };

  function orExpr(): Node {
    let l = andExpr();
    while (isKw('OR')) {
      p++;
      const a = cond(l), b = cond(andExpr());
      l = bool((s) => { const x = a(s); return x === true ? true : or3(x, b(s)); }, l.col);
    }
    return l;
  }
  function andExpr(): Node {
    let l = notExpr();
    while (isKw('AND')) {
      p++;
      const a = cond(l), b = cond(notExpr());
      l = bool((s) => { const x = a(s); return x === false ? false : and3(x, b(s)); }, l.col);
    }
    return l;
  }
  function notExpr(): Node {
    const t = peek();
    if (!eatKw('NOT')) return equality();
    const a = cond(notExpr());
    return bool((s) => not3(a(s)), t.col);
  }
  function compare(op: string, l: Node, r: Node): Node {
    noNull(l, op); noNull(r, op);
    const f = l.ev, g = r.ev, c = CMP[op]!;
    return bool((s) => c(f(s), g(s)), l.col);
  }
  function equality(): Node {
    let l = relational();
    for (;;) {
      const t = peek();
      if (isOp('=') || isOp('<>')) { p++; l = compare(t.v as string, l, relational()); continue; }
      if (!isKw('IS')) return l;
      p++;
      const neg = eatKw('NOT'), f = l.ev;
      needKw('NULL', neg ? 'NULL' : 'NULL or NOT NULL');
      l = bool(neg ? (s) => f(s) !== null : (s) => f(s) === null, l.col);
    }
  }
  function relational(): Node {
    let l = additive();
    for (;;) {
      const t = peek();
      if (t.t === 'op' && (t.v === '<' || t.v === '>' || t.v === '<=' || t.v === '>=')) { p++; l = compare(t.v, l, additive()); continue; }
      const neg = isKw('NOT') && toks[p + 1]!.t === 'kw' && ['LIKE', 'BETWEEN', 'IN'].includes(toks[p + 1]!.v as string);
      if (neg) p++;
      const f = l.ev;
      if (eatKw('LIKE')) {
        const patTok = peek();
        const pattern = stringLit('a string literal pattern after LIKE');
        let escape: string | undefined;
        if (eatKw('ESCAPE')) {
          const escTok = peek();
          escape = stringLit('a string literal after ESCAPE');
          if (escape.length !== 1) fail(escTok.col, `ESCAPE must be a single character, got ${escTok.text}`);
        }
        const re = likeRegExp(pattern, escape, (msg) => fail(patTok.col, msg));
        l = bool((s) => { const v = f(s); return typeof v === 'string' ? re.test(v) !== neg : null; }, l.col);
      } else if (eatKw('BETWEEN')) {
        noNull(l, 'BETWEEN');
        const lo = additive(); noNull(lo, 'BETWEEN');
        needKw('AND', 'AND after the BETWEEN lower bound');
        const hi = additive(); noNull(hi, 'BETWEEN');
        const a = lo.ev, b = hi.ev, ge = CMP['>=']!, le = CMP['<=']!;
        l = bool(neg
          ? (s) => { const v = f(s); return not3(and3(ge(v, a(s)), le(v, b(s)))); }
          : (s) => { const v = f(s); return and3(ge(v, a(s)), le(v, b(s))); }, l.col);
      } else if (eatKw('IN')) {
        needOp('(', '"(" after IN');
        const set = new Set<string>([stringLit('a string literal in the IN list')]);
        while (isOp(',')) { p++; set.add(stringLit('a string literal in the IN list')); }
        needOp(')', '"," or ")" in the IN list');
        l = bool((s) => { const v = f(s); return typeof v === 'string' ? set.has(v) !== neg : null; }, l.col);
      } else return l;
    }
  }
  function binaryArith(next: () => Node, ops: string[]): Node {
    let l = next();
    while (peek().t === 'op' && ops.includes(peek().v as string)) {
      const op = ARITH[toks[p++]!.v as string]!, f = l.ev, g = next().ev;
      l = { ev: (s) => { const a = f(s), b = g(s); return typeof a === 'number' && typeof b === 'number' ? op(a, b) : null; }, kind: 'num', col: l.col };
    }
    return l;
  }
  const additive = (): Node => binaryArith(multiplicative, ['+', '-']);
  const multiplicative = (): Node => binaryArith(unary, ['*', '/', '%']);
  function unary(): Node {
    const t = peek();
    if (!isOp('-') && !isOp('+')) return primary();
    p++;
    const n = unary();
    if (n.lit && typeof n.lit.v === 'number') { const v = t.v === '-' ? -n.lit.v : n.lit.v; return { ev: () => v, kind: 'num', col: t.col, lit: { v } }; }
    const f = n.ev;
    const ev: Ev = t.v === '-' ? (s) => { const v = f(s); return typeof v === 'number' ? -v : null; } : (s) => { const v = f(s); return typeof v === 'number' ? v : null; };
    return { ev, kind: 'num', col: t.col };
  }
  function primary(): Node {
    const t = peek();
    const lit = (v: SelectorValue, kind: Kind): Node => { p++; return { ev: () => v, kind, col: t.col, lit: { v } }; };
    switch (t.t) {
      case 'num': return lit(t.v as number, 'num');
      case 'str': return lit(t.v as string, 'str');
      case 'id': {
        p++;
        const name = t.v as string;
        return { ev: (s) => s.get(name) ?? null, kind: 'any', col: t.col };
      }
      case 'kw':
        if (t.v === 'TRUE') return lit(true, 'bool');
        if (t.v === 'FALSE') return lit(false, 'bool');
        if (t.v === 'NULL') return lit(null, 'null');
        break;
      case 'op':
        if (t.v === '(') {
          p++;
          const n = orExpr();
          needOp(')', '")"');
          return { ...n, col: t.col };
        }
        break;
      case 'eof': break;
    }
    return expected('a value');
  }

  if (peek().t === 'eof') expected('an expression');
  const root = cond(orExpr());
  if (isOp(')')) fail(peek().col, 'unbalanced ")" with no matching "("');
  if (peek().t !== 'eof') expected('an operator or end of input');
  return Object.freeze({ source, matches: (subject: SelectorSubject): boolean => root(subject) === true });
}
