import t, { type Test } from 'tap';
import {
  MAX_SELECTOR_LENGTH,
  SelectorError,
  compileSelector,
  type SelectorSubject,
  type SelectorValue,
} from '../../src/broker/selector.js';

type Props = Record<string, SelectorValue>;
const subject = (props: Props): SelectorSubject => ({ get: (name) => (Object.hasOwn(props, name) ? props[name] : undefined) });
const matches = (src: string, props: Props = {}): boolean => compileSelector(src).matches(subject(props));
/** Three-valued result of a condition: 'T', 'F' or 'U' (UNKNOWN), told apart by also evaluating NOT (src). */
function tri(src: string, props: Props = {}): 'T' | 'F' | 'U' {
  const yes = matches(src, props), no = matches(`NOT (\n${src}\n)`, props);
  if (yes && no) throw new Error(`both ${src} and its negation matched`);
  return yes ? 'T' : no ? 'F' : 'U';
}
/** Assert each [selector, props, expected] row. */
function table(tt: Test, rows: Array<[string, Props, 'T' | 'F' | 'U']>): void {
  for (const [src, props, want] of rows) tt.equal(tri(src, props), want, `${src} ${JSON.stringify(props)}`);
}
/** Assert compiling `src` throws a SelectorError at `column` whose message matches `re`. */
function rejects(tt: Test, src: string, column: number, re: RegExp): void {
  const shown = JSON.stringify(String(src).slice(0, 40));
  try {
    compileSelector(src);
    tt.fail(`expected ${shown} to be rejected`);
  } catch (e) {
    tt.type(e, SelectorError);
    const err = e as SelectorError;
    tt.equal(err.code, 'FERRY_INVALID_SELECTOR');
    tt.equal(err.name, 'SelectorError');
    tt.equal(err.position, column, `column of ${shown}: ${err.message}`);
    tt.match(err.message, `at column ${column}: `);
    tt.match(err.message, re);
  }
}

const P: Props = { color: 'red', weight: 12, price: 2.5, flag: true, off: false, nil: null, name: "O'Brien" };

t.test('Selector object and the example selector', async (tt) => {
  const sel = compileSelector("color = 'red' AND weight > 10");
  tt.equal(sel.source, "color = 'red' AND weight > 10");
  tt.equal(sel.matches(subject({ color: 'red', weight: 11 })), true);
  tt.equal(sel.matches(subject({ color: 'red', weight: 10 })), false);
  tt.equal(sel.matches(subject({ color: 'blue', weight: 11 })), false);
  tt.equal(sel.matches(subject({ weight: 11 })), false);
  tt.equal(sel.matches(new Map<string, SelectorValue>([['color', 'red'], ['weight', 99]])), true, 'a Map is a subject');
  tt.ok(Object.isFrozen(sel));
});

t.test('comparison operators', async (tt) => {
  table(tt, [
    ['weight = 12', P, 'T'], ['weight = 13', P, 'F'], ['weight <> 13', P, 'T'], ['weight <> 12', P, 'F'],
    ['weight < 13', P, 'T'], ['weight < 12', P, 'F'], ['weight > 11', P, 'T'], ['weight > 12', P, 'F'],
    ['weight <= 12', P, 'T'], ['weight <= 11', P, 'F'], ['weight >= 12', P, 'T'], ['weight >= 13', P, 'F'],
    ['12 = weight', P, 'T'], ['weight = 12.0', P, 'T'], ['price > 2', P, 'T'], ['price = 2.5', P, 'T'],
    ["color = 'red'", P, 'T'], ["color <> 'red'", P, 'F'], ["color = 'RED'", P, 'F'],
    ["color < 's'", P, 'T'], ["color > 'rec'", P, 'T'], ["color >= 'red'", P, 'T'], ["color < 'red'", P, 'F'],
    ['flag = TRUE', P, 'T'], ['flag = FALSE', P, 'F'], ['off <> TRUE', P, 'T'], ['flag = off', P, 'F'],
    ['(weight > 1) = TRUE', P, 'T'], ['weight > 1 = flag', P, 'T'], ['color = color', P, 'T'],
  ]);
});

t.test('arithmetic and precedence of arithmetic', async (tt) => {
  table(tt, [
    ['weight + 1 = 13', P, 'T'], ['weight - 2 = 10', P, 'T'], ['weight * 2 = 24', P, 'T'], ['weight / 4 = 3', P, 'T'],
    ['weight / 5 = 2.4', P, 'T'], ['weight % 5 = 2', P, 'T'], ['1 + 2 * 3 = 7', {}, 'T'], ['(1 + 2) * 3 = 9', {}, 'T'],
    ['10 - 4 - 3 = 3', {}, 'T'], ['24 / 4 / 2 = 3', {}, 'T'], ['-weight = -12', P, 'T'], ['- -weight = 12', P, 'T'],
    ['+weight = 12', P, 'T'], ['-2 * -3 = 6', {}, 'T'], ['2 * -weight < 0', P, 'T'], ['price * 4 = 10', P, 'T'],
    ['weight + 1 > 12 AND weight - 1 < 12', P, 'T'],
  ]);
});

t.test('numeric literals', async (tt) => {
  table(tt, [
    ['n = 42', { n: 42 }, 'T'], ['n = 42L', { n: 42 }, 'T'], ['n = 42l', { n: 42 }, 'T'], ['n = 0x2A', { n: 42 }, 'T'],
    ['n = 0X2aL', { n: 42 }, 'T'], ['n = 052', { n: 42 }, 'T'], ['n = 0', { n: 0 }, 'T'], ['n = 1.5', { n: 1.5 }, 'T'],
    ['n = .5', { n: 0.5 }, 'T'], ['n = 5.', { n: 5 }, 'T'], ['n = 1e3', { n: 1000 }, 'T'], ['n = 1.5E-2', { n: 0.015 }, 'T'],
    ['n = 2e+2', { n: 200 }, 'T'], ['n = -9223372036854775807L', { n: -9223372036854775807 }, 'T'],
  ]);
});

t.test('three-valued logic: AND, OR, NOT truth tables', async (tt) => {
  const vals = { T: 'TRUE', F: 'FALSE', U: 'nil' } as const;
  const and = { TT: 'T', TF: 'F', TU: 'U', FT: 'F', FF: 'F', FU: 'F', UT: 'U', UF: 'F', UU: 'U' } as const;
  const or = { TT: 'T', TF: 'T', TU: 'T', FT: 'T', FF: 'F', FU: 'U', UT: 'T', UF: 'U', UU: 'U' } as const;
  for (const [a, x] of Object.entries(vals)) {
    for (const [b, y] of Object.entries(vals)) {
      const k = (a + b) as keyof typeof and;
      tt.equal(tri(`${x} AND ${y}`, { nil: null }), and[k], `${a} AND ${b}`);
      tt.equal(tri(`${x} OR ${y}`, { nil: null }), or[k], `${a} OR ${b}`);
    }
  }
  table(tt, [
    ['NOT TRUE', {}, 'F'], ['NOT FALSE', {}, 'T'], ['NOT nil', {}, 'U'], ['NOT NOT TRUE', {}, 'T'], ['NOT NOT nil', {}, 'U'],
    ['NULL OR TRUE', {}, 'T'], ['NULL AND FALSE', {}, 'F'], ['NULL', {}, 'U'],
    ['missing > 1 OR weight = 12', P, 'T'], ['missing > 1 AND weight = 12', P, 'U'], ['missing > 1 AND weight = 1', P, 'F'],
  ]);
  tt.equal(matches('NOT (missing > 1)', P), false, 'NOT UNKNOWN does not match');
});

t.test('boolean properties used as conditions', async (tt) => {
  table(tt, [
    ['flag', P, 'T'], ['off', P, 'F'], ['NOT flag', P, 'F'], ['flag AND NOT off', P, 'T'], ['missing', P, 'U'],
    ['color', P, 'U'], ['weight OR flag', P, 'T'], ['TRUE', {}, 'T'], ['FALSE', {}, 'F'],
  ]);
});

t.test('logical precedence: OR < AND < NOT < comparison', async (tt) => {
  // TRUE OR (TRUE AND FALSE) = TRUE; (TRUE OR TRUE) AND FALSE would be FALSE
  table(tt, [
    ['TRUE OR TRUE AND FALSE', {}, 'T'], ['FALSE AND TRUE OR TRUE', {}, 'T'], ['(TRUE OR TRUE) AND FALSE', {}, 'F'],
    ['NOT FALSE AND FALSE', {}, 'F'], ['NOT (FALSE AND FALSE)', {}, 'T'], ['NOT weight = 1', P, 'T'], ['NOT weight = 12', P, 'F'],
    ['NOT weight + 1 = 13 OR FALSE', P, 'F'], ["weight = 12 AND color = 'red' OR weight = 0", P, 'T'],
    ["weight = 0 OR weight = 12 AND color = 'blue'", P, 'F'], ['weight = 12 AND NOT flag = FALSE', P, 'T'],
  ]);
});

t.test('BETWEEN and NOT BETWEEN', async (tt) => {
  table(tt, [
    ['weight BETWEEN 10 AND 20', P, 'T'], ['weight BETWEEN 12 AND 12', P, 'T'], ['weight BETWEEN 13 AND 20', P, 'F'],
    ['weight BETWEEN 20 AND 10', P, 'F'], ['weight NOT BETWEEN 13 AND 20', P, 'T'], ['weight NOT BETWEEN 10 AND 20', P, 'F'],
    ['weight BETWEEN 2 * 5 AND weight + 1 AND flag', P, 'T'], ['price BETWEEN 2 AND 3', P, 'T'],
    ["color BETWEEN 'a' AND 'z'", P, 'T'], ['missing BETWEEN 1 AND 2', P, 'U'], ['missing NOT BETWEEN 1 AND 2', P, 'U'],
    ["color BETWEEN 1 AND 20", P, 'U'], ['weight BETWEEN missing AND 20', P, 'U'], ['weight BETWEEN missing AND 5', P, 'F'],
    ['weight NOT BETWEEN missing AND 5', P, 'T'],
  ]);
});

t.test('IN and NOT IN', async (tt) => {
  table(tt, [
    ["color IN ('red', 'green')", P, 'T'], ["color IN ('blue')", P, 'F'], ["color NOT IN ('blue', 'green')", P, 'T'],
    ["color NOT IN ('red')", P, 'F'], ["missing IN ('a')", P, 'U'], ["missing NOT IN ('a')", P, 'U'],
    ["weight IN ('12')", P, 'U'], ["name IN ('O''Brien')", P, 'T'], ["color in ('RED')", P, 'F'],
    ["color IN ('red') AND weight IN ('x') OR TRUE", P, 'T'],
  ]);
});

t.test('LIKE, NOT LIKE and ESCAPE', async (tt) => {
  table(tt, [
    ["color LIKE 'red'", P, 'T'], ["color LIKE 're_'", P, 'T'], ["color LIKE 'r%'", P, 'T'], ["color LIKE '%'", P, 'T'],
    ["color LIKE '%e%'", P, 'T'], ["color LIKE 'r_'", P, 'F'], ["color LIKE 'R%'", P, 'F'], ["color LIKE '_e_'", P, 'T'],
    ["color NOT LIKE 'b%'", P, 'T'], ["color NOT LIKE 'r%'", P, 'F'], ["missing LIKE '%'", P, 'U'], ["missing NOT LIKE '%'", P, 'U'],
    ["weight LIKE '12'", P, 'U'], ["s LIKE ''", { s: '' }, 'T'], ["s LIKE '%'", { s: '' }, 'T'], ["s LIKE '_'", { s: '' }, 'F'],
    ["s LIKE 'a%b'", { s: 'a\nb' }, 'T'], ["s LIKE 'a_b'", { s: 'a\nb' }, 'T'],
    // regex metacharacters are literal
    ["s LIKE 'a.c'", { s: 'abc' }, 'F'], ["s LIKE 'a.c'", { s: 'a.c' }, 'T'], ["s LIKE '(x)+[y]*'", { s: '(x)+[y]*' }, 'T'],
    ["s LIKE '^$\\d{2}|/-?'", { s: '^$\\d{2}|/-?' }, 'T'], ["s LIKE '\\%'", { s: '\\abc' }, 'T'],
    // ESCAPE
    ["s LIKE '10!%' ESCAPE '!'", { s: '10%' }, 'T'], ["s LIKE '10!%' ESCAPE '!'", { s: '100' }, 'F'],
    ["s LIKE '%!_%' ESCAPE '!'", { s: 'a_b' }, 'T'], ["s LIKE '%!_%' ESCAPE '!'", { s: 'ab' }, 'F'],
    ["s LIKE 'a!!b' ESCAPE '!'", { s: 'a!b' }, 'T'], ["s LIKE '\\_%' ESCAPE '\\'", { s: '_x' }, 'T'],
    ["s LIKE '\\_%' ESCAPE '\\'", { s: 'xx' }, 'F'], ["s LIKE 'x%%' ESCAPE '%'", { s: 'x%' }, 'T'],
    ["s LIKE 'x%%' ESCAPE '%'", { s: 'xy' }, 'F'], ["s NOT LIKE 'a!%' ESCAPE '!'", { s: 'ab' }, 'T'],
  ]);
});

t.test('IS NULL and IS NOT NULL', async (tt) => {
  table(tt, [
    ['missing IS NULL', P, 'T'], ['nil IS NULL', P, 'T'], ['color IS NULL', P, 'F'], ['missing IS NOT NULL', P, 'F'],
    ['color IS NOT NULL', P, 'T'], ['off IS NOT NULL', P, 'T'], ['weight + missing IS NULL', P, 'T'],
    ['missing IS NULL AND weight = 12', P, 'T'], ['NOT missing IS NULL', P, 'F'],
  ]);
});

t.test('absent properties, NULL and type mismatches are UNKNOWN, never errors', async (tt) => {
  table(tt, [
    ['missing = 1', P, 'U'], ['missing <> 1', P, 'U'], ["missing = 'x'", P, 'U'], ['nil = 1', P, 'U'], ['missing = missing', P, 'U'],
    ['missing + 1 = 1', P, 'U'], ['-missing = 0', P, 'U'], ["color = 12", P, 'U'], ["weight = '12'", P, 'U'],
    ["weight <> 'x'", P, 'U'], ['flag = 1', P, 'U'], ["flag = 'true'", P, 'U'], ['flag < TRUE', P, 'U'],
    ["color + 1 = 1", P, 'U'], ["'a' + 'b' = 'ab'", {}, 'U'], ['-color = 1', P, 'U'], ['weight * flag = 12', P, 'U'],
    ['weight / 0 = 1', P, 'U'], ['weight / 0 IS NULL', P, 'T'], ['weight % 0 = 0', P, 'U'], ['weight / (1 - 1) > 0', P, 'U'],
    ["color > 1", P, 'U'], ["color < 1 OR TRUE", P, 'T'],
  ]);
});

t.test('keywords are case-insensitive; identifiers are not', async (tt) => {
  table(tt, [
    ["color = 'red' and weight > 1 Or FaLsE", P, 'T'], ['not FALSE', {}, 'T'], ['weight between 1 and 20', P, 'T'],
    ["color not in ('x')", P, 'T'], ["color like 'r%' escape '!'", P, 'T'], ['missing is null', P, 'T'],
    ['color Is Not Null', P, 'T'], ['true', {}, 'T'], ['Weight = 12', P, 'U'], ['WEIGHT = 12', { WEIGHT: 12 }, 'T'],
  ]);
});

t.test('identifiers, quoting, whitespace and comments', async (tt) => {
  table(tt, [
    ['ferry.seq = 3', { 'ferry.seq': 3 }, 'T'], ['$x = 1', { $x: 1 }, 'T'], ['_a1 = 1', { _a1: 1 }, 'T'],
    ['JMSPriority > 4', { JMSPriority: 9 }, 'T'], ["JMSDeliveryMode = 'PERSISTENT'", { JMSDeliveryMode: 'PERSISTENT' }, 'T'],
    ['JMSRedelivered = FALSE', { JMSRedelivered: false }, 'T'], ["JMSType = 'car' AND JMSCorrelationID IS NULL", { JMSType: 'car' }, 'T'],
    ['größe = 1', { größe: 1 }, 'T'], ['andy = 1 and orange = 2', { andy: 1, orange: 2 }, 'T'], ['nullable IS NULL', {}, 'T'],
    ["name = 'O''Brien'", P, 'T'], ["s = ''''", { s: "'" }, 'T'], ["s = ''", { s: '' }, 'T'], ["s = 'a\"b'", { s: 'a"b' }, 'T'],
    ["s = 'a AND b'", { s: 'a AND b' }, 'T'], ["s = 'line\nbreak'", { s: 'line\nbreak' }, 'T'],
    ["\t color\n=\r\n'red'\f ", P, 'T'], ["(((color = 'red')))", P, 'T'], ["(weight=12)AND(color='red')", P, 'T'],
    ["color = 'red' -- a comment", P, 'T'], ["color /* inline */ = 'red'", P, 'T'], ["/* a */ color = 'red' /* b */", P, 'T'],
  ]);
});

t.test('syntax errors name the column and what was expected', async (tt) => {
  rejects(tt, 'a = ', 5, /^selector "a = " at column 5: expected a value, got end of input$/);
  rejects(tt, '', 1, /expected an expression, got end of input/);
  rejects(tt, '   ', 4, /expected an expression, got end of input/);
  rejects(tt, "a = 'abc", 5, /unterminated string literal/);
  rejects(tt, "a = 'it''s", 5, /unterminated string literal/);
  rejects(tt, 'a # 1', 3, /unexpected character "#"/);
  rejects(tt, 'a != 1', 3, /unexpected character "!" \(use <> for not-equal\)/);
  rejects(tt, 'a = = 1', 5, /expected a value, got "="/);
  rejects(tt, 'a AND', 6, /expected a value, got end of input/);
  rejects(tt, 'AND a', 1, /expected a value, got "AND"/);
  rejects(tt, '(a = 1', 7, /expected "\)", got end of input/);
  rejects(tt, '((a = 1)', 9, /expected "\)"/);
  rejects(tt, 'a = 1)', 6, /unbalanced "\)"/);
  rejects(tt, '()', 2, /expected a value, got "\)"/);
  rejects(tt, 'a IN ()', 7, /expected a string literal in the IN list, got "\)"/);
  rejects(tt, "a IN 'x'", 6, /expected "\(" after IN/);
  rejects(tt, "a IN ('x', 1)", 12, /expected a string literal in the IN list, got "1"/);
  rejects(tt, "a IN ('x' 'y')", 11, /expected "," or "\)"/);
  rejects(tt, 'a LIKE 5', 8, /expected a string literal pattern after LIKE, got "5"/);
  rejects(tt, 'a LIKE b', 8, /expected a string literal pattern/);
  rejects(tt, "a LIKE 'x' ESCAPE 'ab'", 19, /ESCAPE must be a single character/);
  rejects(tt, "a LIKE 'x' ESCAPE ''", 19, /ESCAPE must be a single character/);
  rejects(tt, "a LIKE 'x!' ESCAPE '!'", 8, /LIKE pattern ends with the escape character/);
  rejects(tt, 'a BETWEEN 1', 12, /expected AND after the BETWEEN lower bound, got end of input/);
  rejects(tt, 'a BETWEEN 1 OR 2', 13, /expected AND after the BETWEEN lower bound, got "OR"/);
  rejects(tt, 'a BETWEEN 1 AND', 16, /expected a value, got end of input/);
  rejects(tt, 'a = 1 b', 7, /expected an operator or end of input, got "b"/);
  rejects(tt, "a = 'x' 'y'", 9, /expected an operator or end of input/);
  rejects(tt, 'a NOT b', 3, /expected an operator or end of input, got "NOT"/);
  rejects(tt, 'a IS 5', 6, /expected NULL or NOT NULL, got "5"/);
  rejects(tt, 'a IS NOT TRUE', 10, /expected NULL, got "TRUE"/);
  rejects(tt, 'a = NULL', 5, /use IS NULL or IS NOT NULL/);
  rejects(tt, 'NULL <> a', 1, /use IS NULL/);
  rejects(tt, 'a = NOT b', 5, /expected a value, got "NOT"/);
  rejects(tt, 'in = 1', 1, /expected a value, got "in"/);
  rejects(tt, '5', 1, /expected a boolean expression, got a numeric value/);
  rejects(tt, "'x'", 1, /expected a boolean expression, got a string value/);
  rejects(tt, 'a + 1', 1, /expected a boolean expression/);
  rejects(tt, "a AND 'x'", 7, /expected a boolean expression, got a string value/);
  rejects(tt, 'NOT 1', 5, /expected a boolean expression/);
  rejects(tt, 'a = 09', 5, /invalid octal literal "09"/);
  rejects(tt, 'a = 1.2.3', 5, /malformed number/);
  rejects(tt, 'a = 12abc', 5, /malformed number/);
  rejects(tt, 'weight=12AND flag', 8, /malformed number "12A"/);
  rejects(tt, 'a = 0x', 5, /malformed number/);
  rejects(tt, 'a = 1e', 5, /malformed number/);
  rejects(tt, 'a = . ', 5, /unexpected character "\."/);
  rejects(tt, "a = 'x' /* open", 9, /unterminated comment/);
  rejects(tt, 'a = 1 +', 8, /expected a value, got end of input/);
});

t.test('length limit', async (tt) => {
  const ok = `a = '${'x'.repeat(MAX_SELECTOR_LENGTH - 6)}'`;
  tt.equal(ok.length, MAX_SELECTOR_LENGTH);
  tt.equal(matches(ok, { a: 'x'.repeat(MAX_SELECTOR_LENGTH - 6) }), true, 'exactly the maximum compiles');
  const long = `${ok} `;
  rejects(tt, long, MAX_SELECTOR_LENGTH + 1, /selector is 4097 characters long, the maximum is 4096/);
  try {
    compileSelector(long);
  } catch (e) {
    tt.ok((e as Error).message.length < 200, 'the message does not repeat the whole selector');
  }
  rejects(tt, 42 as unknown as string, 1, /expected a string, got number/);
});

t.test('deeply nested and long selectors still compile', async (tt) => {
  const nested = `${'('.repeat(200)}a = 1${')'.repeat(200)}`;
  tt.equal(matches(nested, { a: 1 }), true);
  const ors = Array.from({ length: 300 }, (_, i) => `n = ${i}`).join(' OR ');
  tt.equal(matches(ors, { n: 299 }), true);
  tt.equal(matches(ors, { n: 300 }), false);
});
