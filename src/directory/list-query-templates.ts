import { CompiledQuery, type Compilable } from 'kysely';
import type { Filter } from '../scim/filter/ast.ts';
import type { ResourceTypeDef } from '../scim/schema/attribute.ts';
import { Slot } from './query-template.ts';

/** Where each parameter of a template's compiled query comes from. */
type Source =
  | { from: 'slot'; index: number }
  | { from: 'value'; index: number; lower: boolean }
  | { from: 'constant'; value: unknown };

interface Template {
  sql: string;
  sources: Source[];
}

/** Templates kept at most; filters vary in shape only as much as clients do. */
const MAX_TEMPLATES = 512;

/**
 * A filter's string values stand-in while a template is compiled. The leading and trailing
 * spaces, capitals and the decomposed accent make any transformation other than none or
 * toLowerCase() (trimming, case-mapping up, Unicode normalisation, LIKE escaping or wrapping)
 * visible, so such a value is never bound as if it were the client's.
 */
const marker = (i: number) => ` \u0001Rc${i}e\u0301\u0001 `;
const MARKER_PART = '\u0001rc';

/**
 * Compiled list queries by the shape of their filter. Building and compiling a Kysely query for
 * every SCIM lookup costs more than running it; a lookup's SQL depends only on the filter's
 * shape (attributes, operators, nesting, value types), so it is compiled once per shape and
 * then bound with the request's values.
 *
 * A shape's template is found by compiling the query with markers in place of its string values
 * (and slots for the tenant, page size and offset) through the same code as an uncached query,
 * then locating each marker among the parameters. A shape is not templated (and is compiled
 * per request, as before) when any value does not come out as itself or lower-cased, or shapes
 * the SQL text instead of a parameter (a constant comparison, a date, a number or boolean given
 * as a string), or when compiling with markers fails.
 */
export class ListQueryTemplates {
  readonly #bySchema = new WeakMap<ResourceTypeDef, Map<string, Template | null>>();

  /**
   * The compiled query for `filter` and the run-time `slots`, or undefined when its shape has no
   * template. `build` builds the query exactly as the uncached path does; `key` names what else
   * shapes its SQL (kind, ordering, columns).
   */
  compiled(
    schema: ResourceTypeDef,
    key: string,
    filter: Filter | undefined,
    slots: readonly unknown[],
    build: (filter: Filter | undefined, ...slots: Slot[]) => Compilable,
  ): CompiledQuery | undefined {
    const values: string[] = [];
    const shapeKey = `${key}\u0000${filter ? JSON.stringify(shape(filter, values)) : ''}`;
    let templates = this.#bySchema.get(schema);
    if (!templates) this.#bySchema.set(schema, (templates = new Map()));
    let template = templates.get(shapeKey);
    if (template === undefined) {
      template = compileTemplate(filter, values.length, slots.length, build);
      if (templates.size >= MAX_TEMPLATES) templates.delete(templates.keys().next().value as string);
      templates.set(shapeKey, template);
    }
    if (template === null) return undefined;
    const parameters = template.sources.map((source) => {
      switch (source.from) {
        case 'slot':
          return slots[source.index];
        case 'value':
          return source.lower ? values[source.index]!.toLowerCase() : values[source.index];
        case 'constant':
          return source.value;
      }
    });
    return CompiledQuery.raw(template.sql, parameters);
  }
}

/** The filter with each string value replaced by its index in `values` (collected in order). */
function shape(filter: Filter, values: string[]): unknown {
  switch (filter.kind) {
    case 'compare':
      if (typeof filter.value !== 'string') return [filter.path, filter.op, filter.value];
      values.push(filter.value);
      return [filter.path, filter.op, { s: values.length - 1 }];
    case 'present':
      return [filter.path, 'pr'];
    case 'and':
    case 'or':
      return [filter.kind, shape(filter.left, values), shape(filter.right, values)];
    case 'not':
      return ['not', shape(filter.filter, values)];
    case 'valuePath':
      return ['[]', filter.path, shape(filter.filter, values)];
  }
}

/** The filter with its string values replaced by markers, in the order shape() collects them. */
function withMarkers(filter: Filter, next: { i: number }): Filter {
  switch (filter.kind) {
    case 'compare':
      return typeof filter.value === 'string' ? { ...filter, value: marker(next.i++) } : filter;
    case 'present':
      return filter;
    case 'and':
    case 'or':
      return { ...filter, left: withMarkers(filter.left, next), right: withMarkers(filter.right, next) };
    case 'not':
      return { ...filter, filter: withMarkers(filter.filter, next) };
    case 'valuePath':
      return { ...filter, filter: withMarkers(filter.filter, next) };
  }
}

function compileTemplate(
  filter: Filter | undefined,
  valueCount: number,
  slotCount: number,
  build: (filter: Filter | undefined, ...slots: Slot[]) => Compilable,
): Template | null {
  let compiled: CompiledQuery;
  try {
    compiled = build(filter && withMarkers(filter, { i: 0 }), ...Array.from({ length: slotCount }, (_, i) => new Slot(i))).compile();
  } catch {
    // The real values decide (a date, a boolean in text, an invalid filter): every request compiles its own.
    return null;
  }
  if (compiled.sql.toLowerCase().includes(MARKER_PART)) return null;
  const used = new Set<number>();
  const sources: Source[] = [];
  for (const parameter of compiled.parameters) {
    if (parameter instanceof Slot) {
      sources.push({ from: 'slot', index: parameter.index });
      continue;
    }
    if (typeof parameter !== 'string' || !parameter.toLowerCase().includes(MARKER_PART)) {
      sources.push({ from: 'constant', value: parameter });
      continue;
    }
    const index = Array.from({ length: valueCount }, (_, i) => i).find((i) => parameter === marker(i) || parameter === marker(i).toLowerCase());
    if (index === undefined) return null;
    used.add(index);
    sources.push({ from: 'value', index, lower: parameter !== marker(index) });
  }
  // A value that reached no parameter shaped the SQL itself.
  if (used.size !== valueCount) return null;
  const slotsBound = new Set(sources.flatMap((s) => (s.from === 'slot' ? [s.index] : [])));
  if (slotsBound.size !== slotCount) return null;
  return { sql: compiled.sql, sources };
}
