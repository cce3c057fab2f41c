/**
 * Loads a YAML config file, validates it against its schema (ajv, compiled once per schema) and reports
 * every problem at once with file:line:column. The result is deep-frozen.
 */
import { readFileSync } from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isScalar, LineCounter, type Node, parseDocument } from 'yaml';
import { UpsfleetError } from '../errors.js';

export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  /** JSON pointer of the offending value (/sequence/0/deadline). */
  path: string;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.path || '/'} ${p.message}`;
}

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const compiled = new WeakMap<TSchema, ValidateFunction>();

function validatorFor(schema: TSchema): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/** Finds the YAML node for a JSON pointer, stepping back to the nearest existing parent. */
function locate(doc: ReturnType<typeof parseDocument>, pointer: string, useKey: boolean): Node | undefined {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  while (parts.length > 0) {
    const keys = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    if (useKey) {
      const parent = keys.length > 1 ? doc.getIn(keys.slice(0, -1), true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find(
          (it) => isScalar(it.key) && String(it.key.value) === String(keys.at(-1)),
        );
        if (pair && isScalar(pair.key)) return pair.key as Node;
      }
    }
    const node = doc.getIn(keys, true) as Node | undefined;
    if (node && typeof node === 'object' && 'range' in node) return node;
    parts.pop();
  }
  return (doc.contents as Node | null) ?? undefined;
}

function describe(e: ErrorObject): { path: string; message: string; atKey: boolean } {
  switch (e.keyword) {
    case 'additionalProperties': {
      const prop = String((e.params as { additionalProperty: string }).additionalProperty);
      return { path: `${e.instancePath}/${prop}`, message: `unknown setting "${prop}"`, atKey: true };
    }
    case 'required': {
      const prop = String((e.params as { missingProperty: string }).missingProperty);
      return { path: e.instancePath, message: `is missing required setting "${prop}"`, atKey: false };
    }
    case 'enum':
      return {
        path: e.instancePath,
        message: `must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`,
        atKey: false,
      };
    case 'const':
      return {
        path: e.instancePath,
        message: `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`,
        atKey: false,
      };
    default:
      return { path: e.instancePath, message: e.message ?? 'is invalid', atKey: false };
  }
}

/**
 * Ajv reports every branch of a failed union; say it once per path: with the union's description where
 * it has one ("must be seconds, or a string like 90s"), otherwise with the deepest branch errors.
 */
function pruneUnionNoise(errors: ErrorObject[]): ErrorObject[] {
  const unionAt = new Map<string, ErrorObject>();
  for (const e of errors) {
    const description = (e.parentSchema as { description?: string } | undefined)?.description;
    if (e.keyword === 'anyOf' && description)
      unionAt.set(e.instancePath, { ...e, message: `must be ${description}` });
  }
  const out: ErrorObject[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const union = unionAt.get(e.instancePath);
    const chosen = union ?? e;
    if (!union && e.keyword === 'anyOf') continue;
    // if/then schemas (agent hooks by preset): the `then` branch's own errors say it, `if` adds nothing
    if (e.keyword === 'if') continue;
    if (!union && e.keyword === 'type' && errors.some((o) => o.instancePath.startsWith(`${e.instancePath}/`)))
      continue;
    const key = `${chosen.instancePath}|${chosen.keyword}|${chosen.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(chosen);
  }
  return out;
}

export type ExtraCheck<T> = (value: T) => Array<{ path: string; message: string }>;

export interface LoadedConfig<T> {
  value: T;
  file: string;
}

export function parseConfigText<T>(
  text: string,
  file: string,
  schema: TSchema,
  extraChecks: ExtraCheck<T>[] = [],
): LoadedConfig<T> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = [];
  const at = (pointer: string, message: string, useKey = false): ConfigProblem => {
    const node = locate(doc, pointer, useKey);
    const offset = node?.range?.[0] ?? 0;
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line, column: pos.col, path: pointer, message };
  };
  for (const err of doc.errors) {
    const pos = lineCounter.linePos(err.pos[0]);
    problems.push({
      file,
      line: pos.line,
      column: pos.col,
      path: '',
      message: err.message.split('\n')[0] ?? '',
    });
  }
  if (problems.length > 0) {
    throw new UpsfleetError(
      'CONFIG_SYNTAX',
      `${file}: invalid YAML\n${problems.map(formatProblem).join('\n')}`,
      {
        problems,
      },
    );
  }
  const value = doc.toJS() ?? {};
  const validate = validatorFor(schema);
  if (!validate(value)) {
    for (const e of pruneUnionNoise(validate.errors ?? [])) {
      const d = describe(e);
      problems.push(at(d.path, d.message, d.atKey));
    }
  } else {
    for (const check of extraChecks) {
      for (const p of check(value as T)) problems.push(at(p.path, p.message));
    }
  }
  if (problems.length > 0) {
    problems.sort((a, b) => a.line - b.line || a.column - b.column);
    throw new UpsfleetError(
      'CONFIG_INVALID',
      `${file}: ${problems.length} problem${problems.length > 1 ? 's' : ''}\n${problems.map(formatProblem).join('\n')}`,
      { problems },
    );
  }
  return { value: deepFreeze(value as T), file };
}

export function loadConfigFile<T>(
  file: string,
  schema: TSchema,
  extraChecks: ExtraCheck<T>[] = [],
): LoadedConfig<T> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UpsfleetError(
      'CONFIG_NOT_FOUND',
      `${file}: cannot read the configuration (${(err as Error).message})`,
      {
        file,
      },
    );
  }
  return parseConfigText(text, file, schema, extraChecks);
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
