/**
 * Template rendering: `{{name}}` placeholders in every string of a message content (any type, nested
 * arrays included) are replaced by the caller's values. Pure and single-pass: a value is inserted as
 * plain text and is never scanned for placeholders again, so a value such as `{{secret}}` stays literal
 * (no template injection) and nothing is ever evaluated.
 */
import { UnprocessableError } from '../errors';

export interface VariableDefinition {
  name: string;
  required?: boolean;
  default?: string;
  description?: string;
}

export type VariableValue = string | number | boolean | null | undefined;
export type VariableValues = Record<string, VariableValue>;

/** `{{ name }}`: letters, digits, `_`, `.`, `-`; the name must not start with a digit or punctuation. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]{0,63})\s*\}\}/g;
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** Every distinct placeholder name used anywhere in `content`, in first-seen order. */
export function placeholdersOf(content: unknown): string[] {
  const seen = new Set<string>();
  visitStrings(content, (s) => {
    for (const m of s.matchAll(PLACEHOLDER)) seen.add(m[1]);
  });
  return [...seen];
}

function visitStrings(value: unknown, fn: (s: string) => void): void {
  if (typeof value === 'string') fn(value);
  else if (Array.isArray(value)) value.forEach((v) => visitStrings(v, fn));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => visitStrings(v, fn));
}

function mapStrings(value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = mapStrings(v, fn);
    return out;
  }
  return value;
}

/** The caller's own value for `name`: inherited properties (`constructor`, `toString`, `__proto__`) are never values. */
function ownValue(values: VariableValues, name: string): VariableValue {
  return Object.hasOwn(values, name) ? values[name] : undefined;
}

function asText(v: VariableValue): string | undefined {
  if (v === null || v === undefined) return undefined;
  return typeof v === 'string' ? v : String(v);
}

export interface RenderResult<T> {
  content: T;
  /** Placeholders used in the content but absent from the variables definition. */
  unknownPlaceholders: string[];
  /** Values given that no placeholder uses. */
  unusedValues: string[];
}

/** Names used by `content` that are not declared in `definitions`. */
export function undeclaredPlaceholders(content: unknown, definitions: readonly VariableDefinition[]): string[] {
  const declared = new Set(definitions.map((d) => d.name));
  return placeholdersOf(content).filter((n) => !declared.has(n));
}

/** At most this many distinct placeholders per content: bounds the work of every render (route, expansion). */
export const MAX_PLACEHOLDERS = 100;

export interface CompiledTemplate<T> {
  /** Distinct placeholders of the content, in first-seen order. */
  placeholders: string[];
  /** Names a caller must give a value for (no default; required, or undeclared and used). */
  needed: string[];
  /** `needed` names without a non-null own value once the sets are merged left to right. */
  missing(...values: VariableValues[]): string[];
  /** The rendered content; throws 422 missing_variables like renderContent. */
  render(...values: VariableValues[]): T;
}

/**
 * Parses `content` once for many renders (a task's targets): the placeholder scan and the definitions
 * lookup happen here, so each target costs one pass over the content's strings and a lookup per name.
 */
export function compileTemplate<T>(content: T, definitions: readonly VariableDefinition[]): CompiledTemplate<T> {
  const defs = new Map(definitions.map((d) => [d.name, d]));
  const placeholders = placeholdersOf(content);
  const used = new Set(placeholders);
  const needed = [
    ...placeholders.filter((n) => defs.get(n)?.default === undefined && (!defs.has(n) || defs.get(n)!.required)),
    ...definitions.filter((d) => d.required && d.default === undefined && !used.has(d.name)).map((d) => d.name),
  ];
  // Like merging the sets left to right: the last set holding the name decides (a null there means none).
  const valueOf = (name: string, sets: VariableValues[]): string | undefined => {
    for (let i = sets.length - 1; i >= 0; i--) if (Object.hasOwn(sets[i], name)) return asText(sets[i][name]);
    return undefined;
  };
  const missing = (...sets: VariableValues[]) => needed.filter((n) => valueOf(n, sets) === undefined);
  return {
    placeholders,
    needed,
    missing,
    render(...sets) {
      const absent = missing(...sets);
      if (absent.length) throw new UnprocessableError('missing_variables', `missing template variables: ${absent.join(', ')}`, { missing: absent });
      const resolved = new Map(placeholders.map((n) => [n, valueOf(n, sets) ?? defs.get(n)?.default ?? '']));
      return mapStrings(content, (str) => str.replace(PLACEHOLDER, (_m, name: string) => resolved.get(name) ?? '')) as T;
    },
  };
}

/**
 * Renders `content`. A placeholder resolves to the given value, else the definition's default; a
 * placeholder that resolves to nothing is missing when it is declared required or not declared at all
 * (an undeclared, unresolved placeholder would reach the recipient as raw `{{…}}`). Missing names are
 * one 422 `missing_variables` listing them all. Declared optional variables without value render empty.
 */
export function renderContent<T>(content: T, definitions: readonly VariableDefinition[], values: VariableValues = {}): RenderResult<T> {
  const template = compileTemplate(content, definitions);
  const rendered = template.render(values);
  const declared = new Set(definitions.map((d) => d.name));
  const usedSet = new Set(template.placeholders);
  return {
    content: rendered,
    unknownPlaceholders: template.placeholders.filter((n) => !declared.has(n)),
    unusedValues: Object.keys(values).filter((k) => !usedSet.has(k)),
  };
}

/** Checks a definition list: names valid and unique. Returns problems as field messages. */
export function definitionProblems(definitions: readonly VariableDefinition[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const d of definitions) {
    if (!VARIABLE_NAME.test(d.name)) problems.push(`invalid variable name "${d.name}"`);
    if (seen.has(d.name)) problems.push(`duplicate variable "${d.name}"`);
    seen.add(d.name);
  }
  return problems;
}
