/**
 * Label selectors: compiled once into predicates (the evaluator calls them per flow), parsed from and
 * formatted to the kubectl `-l` syntax.
 *
 * Semantics (metav1.LabelSelector): every matchLabels entry and every matchExpressions requirement
 * must hold (AND). `{}` matches everything. `In` needs the key present with one of the values;
 * `NotIn` holds when the key is absent or its value is none of the values; `Exists` needs the key;
 * `DoesNotExist` needs it absent.
 */
import type { V1LabelSelectorRequirement } from '@kubernetes/client-node';
import type { V1LabelSelector } from '../cluster/objects.js';
import { InputError } from '../errors.js';
import { labelKeyErrors, labelValueErrors } from './k8s-names.js';

export type Labels = Readonly<Record<string, string>>;
export type LabelPredicate = (labels: Labels) => boolean;

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
export const SELECTOR_OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

const matchAll: LabelPredicate = () => true;

const hasOwn = Object.prototype.hasOwnProperty;

/** A label lookup that ignores inherited properties (`constructor`, `__proto__`…). */
function labelOf(labels: Labels, key: string): string | undefined {
  return hasOwn.call(labels, key) ? labels[key] : undefined;
}

/** True for `{}` (and an absent selector): a selector that matches every label set. */
export function isEmptySelector(selector: V1LabelSelector | undefined): boolean {
  return (
    !selector ||
    (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0)
  );
}

function compileRequirement(req: V1LabelSelectorRequirement): LabelPredicate {
  const key = req.key;
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In': {
      if (values.length === 1) {
        const only = values[0];
        return (labels) => labelOf(labels, key) === only;
      }
      const set = new Set(values);
      return (labels) => {
        const v = labelOf(labels, key);
        return v !== undefined && set.has(v);
      };
    }
    case 'NotIn': {
      const set = new Set(values);
      return (labels) => {
        const v = labelOf(labels, key);
        return v === undefined || !set.has(v);
      };
    }
    case 'Exists':
      return (labels) => hasOwn.call(labels, key);
    case 'DoesNotExist':
      return (labels) => !hasOwn.call(labels, key);
    default:
      // validate.ts rejects these on input; a programmatic caller gets a plain error.
      throw new Error(`unknown label selector operator ${JSON.stringify(req.operator)} for key ${JSON.stringify(key)}`);
  }
}

/**
 * Compiles a selector into a predicate over a label set. An absent selector is treated like `{}`
 * (matches everything); callers for which "absent" means something else decide before calling.
 */
export function compileSelector(selector: V1LabelSelector | undefined): LabelPredicate {
  if (isEmptySelector(selector)) return matchAll;
  const entries = Object.entries(selector!.matchLabels ?? {});
  const keys = entries.map(([k]) => k);
  const wanted = entries.map(([, v]) => v);
  const requirements = (selector!.matchExpressions ?? []).map(compileRequirement);
  const n = keys.length;
  if (requirements.length === 0) {
    if (n === 1) {
      const k0 = keys[0]!;
      const v0 = wanted[0];
      return (labels) => labelOf(labels, k0) === v0;
    }
    return (labels) => {
      for (let i = 0; i < n; i++) if (labelOf(labels, keys[i]!) !== wanted[i]) return false;
      return true;
    };
  }
  const m = requirements.length;
  return (labels) => {
    for (let i = 0; i < n; i++) if (labelOf(labels, keys[i]!) !== wanted[i]) return false;
    for (let i = 0; i < m; i++) if (!requirements[i]!(labels)) return false;
    return true;
  };
}

/** One-off match; prefer compileSelector when the same selector is applied many times. */
export function selectorMatches(selector: V1LabelSelector | undefined, labels: Labels | undefined): boolean {
  return compileSelector(selector)(labels ?? {});
}

// ---------------------------------------------------------------------------------------------
// kubectl selector syntax: `a=b,c!=d,e in (x,y),f notin (z),g,!h` (also `==`).

type Token =
  | { kind: 'word'; text: string; at: number }
  | { kind: 'op'; text: '=' | '==' | '!=' | '!' | '(' | ')' | ',' | '<' | '>'; at: number };

const SPECIAL = new Set(['=', '!', '(', ')', ',', '<', '>']);

function tokenize(text: string, fail: (detail: string) => never): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '=' && text[i + 1] === '=') {
      tokens.push({ kind: 'op', text: '==', at: i });
      i += 2;
    } else if (c === '!' && text[i + 1] === '=') {
      tokens.push({ kind: 'op', text: '!=', at: i });
      i += 2;
    } else if (SPECIAL.has(c)) {
      tokens.push({ kind: 'op', text: c as '=' | '!' | '(' | ')' | ',' | '<' | '>', at: i });
      i++;
    } else {
      const start = i;
      while (i < text.length && !SPECIAL.has(text[i]!) && !/\s/.test(text[i]!)) i++;
      tokens.push({ kind: 'word', text: text.slice(start, i), at: start });
    }
  }
  if (tokens.length > 0 && tokens[tokens.length - 1]!.text === ',') fail('trailing comma');
  return tokens;
}

/**
 * Parses a kubectl-style label selector into a V1LabelSelector. Equality requirements become
 * matchLabels (a key given twice becomes `In` expressions, so nothing is lost); `!=` becomes
 * `NotIn`. An empty string is `{}` (everything). Throws InputError naming `source` on bad syntax or
 * on a key or value the API server would reject.
 */
export function parseSelector(text: string, source = 'label selector'): V1LabelSelector {
  const fail = (detail: string): never => {
    throw new InputError(source, `invalid selector ${JSON.stringify(text)}: ${detail}`);
  };
  const tokens = tokenize(text, fail);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const next = (): Token | undefined => tokens[pos++];
  const checkKey = (key: string): void => {
    const errs = labelKeyErrors(key);
    if (errs.length > 0) fail(`key ${JSON.stringify(key)}: ${errs.join('; ')}`);
  };
  const checkValue = (key: string, value: string): void => {
    const errs = labelValueErrors(value);
    if (errs.length > 0) fail(`value ${JSON.stringify(value)} of ${key}: ${errs.join('; ')}`);
  };

  const matchLabels: Record<string, string> = {};
  const expressions: V1LabelSelectorRequirement[] = [];

  const readValueSet = (key: string): string[] => {
    const open = next();
    if (open?.text !== '(') fail(`expected '(' after the set operator of ${key}`);
    const values: string[] = [];
    for (;;) {
      const t = next();
      if (!t) return fail(`missing ')' in the value set of ${key}`);
      if (t.kind === 'word') {
        checkValue(key, t.text);
        if (!values.includes(t.text)) values.push(t.text);
        const sep = next();
        if (sep?.text === ')') break;
        if (sep?.text !== ',') fail(`expected ',' or ')' after ${JSON.stringify(t.text)} in the value set of ${key}`);
      } else if (t.text === ')') {
        break;
      } else {
        fail(`unexpected ${JSON.stringify(t.text)} in the value set of ${key}`);
      }
    }
    if (values.length === 0) fail(`the value set of ${key} can't be empty for 'in' and 'notin'`);
    return values;
  };

  if (tokens.length === 0) return {};
  for (;;) {
    const first = next();
    if (!first) fail('expected a requirement');
    if (first!.kind === 'op' && first!.text === '!') {
      const key = next();
      if (key?.kind !== 'word') fail("expected a key after '!'");
      checkKey(key!.text);
      expressions.push({ key: key!.text, operator: 'DoesNotExist' });
    } else if (first!.kind === 'word') {
      const key = first!.text;
      checkKey(key);
      const op = peek();
      if (!op || op.text === ',') {
        expressions.push({ key, operator: 'Exists' });
      } else if (op.kind === 'word' && (op.text === 'in' || op.text === 'notin')) {
        next();
        const values = readValueSet(key);
        expressions.push({ key, operator: op.text === 'in' ? 'In' : 'NotIn', values });
      } else if (op.text === '=' || op.text === '==' || op.text === '!=') {
        next();
        // A value may be empty (`a=`): the next token is then ',' or the end.
        const v = peek();
        let value = '';
        if (v?.kind === 'word') {
          value = v.text;
          next();
        }
        checkValue(key, value);
        if (op.text === '!=') {
          expressions.push({ key, operator: 'NotIn', values: [value] });
        } else if (matchLabels[key] === undefined) {
          matchLabels[key] = value;
        } else if (matchLabels[key] !== value) {
          expressions.push({ key, operator: 'In', values: [value] });
        }
      } else if (op.text === '<' || op.text === '>') {
        fail(`operator '${op.text}' is not supported by NetworkPolicy label selectors (only =, ==, !=, in, notin, exists, !)`);
      } else {
        fail(`unexpected ${JSON.stringify(op.text)} after key ${key}`);
      }
    } else {
      fail(`unexpected ${JSON.stringify(first!.text)} at position ${first!.at + 1}`);
    }
    const sep = next();
    if (!sep) break;
    if (sep.text !== ',') fail(`expected ',' before ${JSON.stringify(sep.text)} at position ${sep.at + 1}`);
  }

  const out: V1LabelSelector = {};
  if (Object.keys(matchLabels).length > 0) out.matchLabels = matchLabels;
  if (expressions.length > 0) out.matchExpressions = expressions;
  return out;
}

/**
 * The kubectl form of a selector: requirements sorted by key, set values sorted (`a=b,c in (x,y),!d`).
 * `{}` formats as the empty string, which parseSelector reads back as `{}`.
 */
export function formatSelector(selector: V1LabelSelector | undefined): string {
  const parts: { key: string; text: string }[] = [];
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) parts.push({ key: k, text: `${k}=${v}` });
  for (const e of selector?.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort();
    let text: string;
    switch (e.operator) {
      case 'In':
        text = `${e.key} in (${values.join(',')})`;
        break;
      case 'NotIn':
        text = `${e.key} notin (${values.join(',')})`;
        break;
      case 'Exists':
        text = e.key;
        break;
      case 'DoesNotExist':
        text = `!${e.key}`;
        break;
      default:
        text = `${e.key} ${e.operator} (${values.join(',')})`;
    }
    parts.push({ key: e.key, text });
  }
  parts.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  return parts.map((p) => p.text).join(',');
}
