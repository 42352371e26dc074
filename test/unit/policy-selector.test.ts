import { describe, expect, it } from 'vitest';
import type { V1LabelSelector } from '../../src/cluster/objects.js';
import { InputError } from '../../src/errors.js';
import { compileSelector, formatSelector, isEmptySelector, parseSelector, selectorMatches } from '../../src/policy/selector.js';

describe('compileSelector', () => {
  const cases: { name: string; selector: V1LabelSelector | undefined; labels: Record<string, string>; want: boolean }[] = [
    { name: '{} matches everything', selector: {}, labels: { a: 'b' }, want: true },
    { name: '{} matches no labels', selector: {}, labels: {}, want: true },
    { name: 'absent selector matches everything', selector: undefined, labels: {}, want: true },
    { name: 'matchLabels equal', selector: { matchLabels: { app: 'web' } }, labels: { app: 'web', x: 'y' }, want: true },
    { name: 'matchLabels different value', selector: { matchLabels: { app: 'web' } }, labels: { app: 'db' }, want: false },
    { name: 'matchLabels key absent', selector: { matchLabels: { app: 'web' } }, labels: {}, want: false },
    { name: 'matchLabels all keys (AND)', selector: { matchLabels: { app: 'web', tier: 'fe' } }, labels: { app: 'web' }, want: false },
    { name: 'matchLabels all keys present', selector: { matchLabels: { app: 'web', tier: 'fe' } }, labels: { app: 'web', tier: 'fe' }, want: true },
    { name: 'matchLabels empty value', selector: { matchLabels: { app: '' } }, labels: { app: '' }, want: true },
    { name: 'matchLabels empty value, key absent', selector: { matchLabels: { app: '' } }, labels: {}, want: false },
    { name: 'In one of', selector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['a', 'b'] }] }, labels: { env: 'b' }, want: true },
    { name: 'In single', selector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['a'] }] }, labels: { env: 'a' }, want: true },
    { name: 'In none of', selector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['a', 'b'] }] }, labels: { env: 'c' }, want: false },
    { name: 'In key absent', selector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['a'] }] }, labels: {}, want: false },
    { name: 'NotIn other value', selector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['a'] }] }, labels: { env: 'c' }, want: true },
    { name: 'NotIn listed value', selector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['a', 'c'] }] }, labels: { env: 'c' }, want: false },
    { name: 'NotIn key absent matches', selector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['a'] }] }, labels: {}, want: true },
    { name: 'Exists present', selector: { matchExpressions: [{ key: 'env', operator: 'Exists' }] }, labels: { env: '' }, want: true },
    { name: 'Exists absent', selector: { matchExpressions: [{ key: 'env', operator: 'Exists' }] }, labels: { other: 'x' }, want: false },
    { name: 'DoesNotExist absent', selector: { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, labels: {}, want: true },
    { name: 'DoesNotExist present', selector: { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, labels: { env: 'x' }, want: false },
    { name: 'inherited props are not labels (Exists)', selector: { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, labels: {}, want: false },
    { name: 'inherited props are not labels (DoesNotExist)', selector: { matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] }, labels: {}, want: true },
    {
      name: 'matchLabels AND expressions: both hold',
      selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] },
      labels: { app: 'web', env: 'dev' },
      want: true,
    },
    {
      name: 'matchLabels AND expressions: expression fails',
      selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] },
      labels: { app: 'web', env: 'prod' },
      want: false,
    },
    {
      name: 'matchLabels AND expressions: label fails',
      selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'env', operator: 'Exists' }] },
      labels: { app: 'db', env: 'prod' },
      want: false,
    },
    {
      name: 'two expressions AND',
      selector: { matchExpressions: [{ key: 'a', operator: 'Exists' }, { key: 'b', operator: 'DoesNotExist' }] },
      labels: { a: '1', b: '2' },
      want: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(compileSelector(c.selector)(c.labels)).toBe(c.want);
      expect(selectorMatches(c.selector, c.labels)).toBe(c.want);
    });
  }

  it('rejects an unknown operator', () => {
    expect(() => compileSelector({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] })).toThrow(/operator "Gt"/);
  });

  it('isEmptySelector', () => {
    expect(isEmptySelector({})).toBe(true);
    expect(isEmptySelector(undefined)).toBe(true);
    expect(isEmptySelector({ matchLabels: {}, matchExpressions: [] })).toBe(true);
    expect(isEmptySelector({ matchLabels: { a: 'b' } })).toBe(false);
    expect(isEmptySelector({ matchExpressions: [{ key: 'a', operator: 'Exists' }] })).toBe(false);
  });
});

describe('parseSelector', () => {
  const ok: { text: string; want: V1LabelSelector }[] = [
    { text: '', want: {} },
    { text: '   ', want: {} },
    { text: 'a=b', want: { matchLabels: { a: 'b' } } },
    { text: 'a==b', want: { matchLabels: { a: 'b' } } },
    { text: ' a = b , c = d ', want: { matchLabels: { a: 'b', c: 'd' } } },
    { text: 'a=', want: { matchLabels: { a: '' } } },
    { text: 'a=,b=c', want: { matchLabels: { a: '', b: 'c' } } },
    { text: 'a!=b', want: { matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['b'] }] } },
    { text: 'e in (x,y)', want: { matchExpressions: [{ key: 'e', operator: 'In', values: ['x', 'y'] }] } },
    { text: 'e in (x, y, x)', want: { matchExpressions: [{ key: 'e', operator: 'In', values: ['x', 'y'] }] } },
    { text: 'f notin (z)', want: { matchExpressions: [{ key: 'f', operator: 'NotIn', values: ['z'] }] } },
    { text: 'g', want: { matchExpressions: [{ key: 'g', operator: 'Exists' }] } },
    { text: '!h', want: { matchExpressions: [{ key: 'h', operator: 'DoesNotExist' }] } },
    { text: 'app.kubernetes.io/name=web', want: { matchLabels: { 'app.kubernetes.io/name': 'web' } } },
    {
      text: 'a=b,c!=d,e in (x,y),f notin (z),g,!h',
      want: {
        matchLabels: { a: 'b' },
        matchExpressions: [
          { key: 'c', operator: 'NotIn', values: ['d'] },
          { key: 'e', operator: 'In', values: ['x', 'y'] },
          { key: 'f', operator: 'NotIn', values: ['z'] },
          { key: 'g', operator: 'Exists' },
          { key: 'h', operator: 'DoesNotExist' },
        ],
      },
    },
    { text: 'a=b,a=b', want: { matchLabels: { a: 'b' } } },
    { text: 'a=b,a=c', want: { matchLabels: { a: 'b' }, matchExpressions: [{ key: 'a', operator: 'In', values: ['c'] }] } },
  ];
  for (const c of ok) {
    it(`parses ${JSON.stringify(c.text)}`, () => {
      expect(parseSelector(c.text)).toEqual(c.want);
    });
  }

  const bad: { text: string; why: RegExp }[] = [
    { text: 'a=b,', why: /trailing comma/ },
    { text: ',a=b', why: /unexpected ","/ },
    { text: 'a in ()', why: /can't be empty/ },
    { text: 'a in (x', why: /expected ',' or '\)'|missing '\)'/ },
    { text: 'a in x', why: /expected '\('/ },
    { text: 'a notin', why: /expected '\('/ },
    { text: 'a>1', why: /not supported/ },
    { text: 'a<1', why: /not supported/ },
    { text: 'a b', why: /unexpected "b"/ },
    { text: 'a=b c=d', why: /expected ','/ },
    { text: '!', why: /expected a key after '!'/ },
    { text: '-bad=x', why: /key "-bad"/ },
    { text: 'a=-bad', why: /value "-bad"/ },
    { text: `a=${'x'.repeat(64)}`, why: /no more than 63/ },
    { text: 'a/b/c=x', why: /key "a\/b\/c"/ },
    { text: 'Bad_Prefix/x=y', why: /prefix part/ },
    { text: 'a in (x,(y))', why: /unexpected "\("/ },
  ];
  for (const c of bad) {
    it(`rejects ${JSON.stringify(c.text)}`, () => {
      let err: unknown;
      try {
        parseSelector(c.text, '-l');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).message).toMatch(/^-l: invalid selector/);
      expect((err as InputError).message).toMatch(c.why);
    });
  }

  it('parsed selectors behave like the syntax says', () => {
    const m = compileSelector(parseSelector('a=b,c!=d,e in (x,y),f notin (z),g,!h'));
    expect(m({ a: 'b', e: 'x', g: '' })).toBe(true);
    expect(m({ a: 'b', e: 'x', g: '', c: 'd' })).toBe(false);
    expect(m({ a: 'b', e: 'x', g: '', f: 'z' })).toBe(false);
    expect(m({ a: 'b', e: 'x', g: '', h: '1' })).toBe(false);
    expect(m({ a: 'b', e: 'q', g: '' })).toBe(false);
    expect(m({ a: 'b', e: 'x' })).toBe(false);
    const twice = compileSelector(parseSelector('a=b,a=c'));
    expect(twice({ a: 'b' })).toBe(false);
  });
});

describe('formatSelector', () => {
  const cases: { selector: V1LabelSelector | undefined; want: string }[] = [
    { selector: {}, want: '' },
    { selector: undefined, want: '' },
    { selector: { matchLabels: { b: '2', a: '1' } }, want: 'a=1,b=2' },
    { selector: { matchExpressions: [{ key: 'e', operator: 'In', values: ['y', 'x'] }] }, want: 'e in (x,y)' },
    { selector: { matchExpressions: [{ key: 'f', operator: 'NotIn', values: ['z'] }] }, want: 'f notin (z)' },
    { selector: { matchExpressions: [{ key: 'g', operator: 'Exists' }] }, want: 'g' },
    { selector: { matchExpressions: [{ key: 'h', operator: 'DoesNotExist' }] }, want: '!h' },
    {
      selector: { matchLabels: { z: '1' }, matchExpressions: [{ key: 'h', operator: 'DoesNotExist' }, { key: 'a', operator: 'Exists' }] },
      want: 'a,!h,z=1',
    },
  ];
  for (const c of cases) {
    it(`formats ${JSON.stringify(c.selector)}`, () => {
      expect(formatSelector(c.selector)).toBe(c.want);
    });
  }

  it('round-trips through parseSelector', () => {
    const text = 'a=b,c notin (d),e in (x,y),f notin (z),g,!h';
    expect(formatSelector(parseSelector(text))).toBe(text);
  });
});
