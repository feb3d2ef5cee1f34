import { badRequest } from '../../domain/errors.ts';
import type { Filter } from '../filter/ast.ts';
import { assertSinglePrimary, coerceElement, coerceValue, isPlainObject, isReferenceAttribute } from '../resource-input/coerce-value.ts';
import { attributeHolder } from '../resource-input/resource-schemas.ts';
import { sameValue } from '../resource-input/same-value.ts';
import type { AttributeDef, ResourceTypeDef } from '../schema/attribute.ts';
import { findAttribute, type ResolvedAttribute } from '../schema/resolve-attribute.ts';
import type { PatchOpName } from './patch-request.ts';
import { elementFromFilter } from './element-from-filter.ts';

type Json = Record<string, unknown>;

/** Where an operation writes: an attribute, optionally one sub-attribute, optionally filtered elements. */
export interface AttributeTarget {
  /** `def` is the attribute; `sub` the sub-attribute of `name.familyName` or `emails[...].value`. */
  resolved: ResolvedAttribute;
  filter?: Filter;
  /** Canonical path, for error messages. */
  label: string;
}

export interface AttributeContext {
  type: ResourceTypeDef;
  matches: (filter: Filter, element: unknown, parent: ResolvedAttribute) => boolean;
}

interface Step {
  op: PatchOpName;
  def: AttributeDef;
  sub: AttributeDef | undefined;
  value: unknown;
  label: string;
}

/** RFC 7643 §7 immutable: may be set once, never changed (RFC 7644 §3.5.2 answers 400 mutability). */
function checkImmutable(def: AttributeDef, before: unknown, after: unknown, label: string): void {
  if (def.mutability === 'immutable' && before !== undefined && !sameValue(before, after)) {
    throw badRequest('mutability', `Attribute '${label}' is immutable and already has a value`);
  }
}

/**
 * RFC 7643 §2.4: primary true may appear once. A value added or replaced with primary true wins:
 * every other element loses it.
 */
function settlePrimary(list: unknown[], fresh: ReadonlySet<unknown>, label: string): void {
  const winners = list.filter((e) => fresh.has(e) && isPlainObject(e) && e.primary === true);
  assertSinglePrimary(winners, label);
  if (winners.length === 0) return;
  list.forEach((e, i) => {
    if (!fresh.has(e) && isPlainObject(e) && e.primary === true) list[i] = { ...e, primary: false };
  });
}

const nonEmpty = (list: unknown[]) => (list.length > 0 ? list : undefined);

/** RFC 7644 §3.5.2.1/§3.5.2.3 on a whole attribute (no filter, no sub-attribute). */
function wholeValue({ op, def, value, label }: Step, current: unknown): unknown {
  if (op === 'remove') return undefined;
  if (def.multiValued) {
    // A lone element for a multi-valued attribute is read as an array of one.
    const incoming = (coerceValue(def, Array.isArray(value) || value === null ? value : [value], label) ?? []) as unknown[];
    if (op === 'replace') return nonEmpty(incoming);
    const list = Array.isArray(current) ? [...current] : [];
    const fresh = new Set<unknown>();
    for (const element of incoming) {
      if (list.some((e) => sameValue(e, element))) continue;
      list.push(element);
      fresh.add(element);
    }
    settlePrimary(list, fresh, label);
    return nonEmpty(list);
  }
  if (def.type !== 'complex' || isReferenceAttribute(def)) {
    // A reference (manager) is replaced whole: merging would keep the old manager's $ref.
    const coerced = coerceValue(def, value, label);
    return coerced === undefined && op === 'add' ? current : coerced;
  }
  if (value === null || value === undefined) return op === 'add' ? current : undefined;
  // A complex value merges: "Sub-attributes that are not specified in the value parameter are
  // left unchanged" (RFC 7644 §3.5.2.3); on replace, a null sub-attribute is unassigned (RFC 7643 §2.5).
  const merged: Json = { ...(isPlainObject(current) ? current : {}), ...((coerceValue(def, value, label) ?? {}) as Json) };
  if (op === 'replace' && isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      const sub = findAttribute(def.subAttributes, key);
      if (item === null && sub) delete merged[sub.name];
    }
  }
  return Object.keys(merged).length > 0 ? merged : undefined;
}

/** One sub-attribute of one complex value (`name.familyName`, `manager.value`). */
function subValue(step: Step, sub: AttributeDef, current: unknown): unknown {
  const { op, def, value, label } = step;
  const element: Json = isPlainObject(current) ? { ...current } : {};
  const coerced = op === 'remove' ? undefined : coerceValue(sub, value, label);
  if (coerced === undefined && op === 'add') return current;
  checkImmutable(sub, element[sub.name], coerced, label);
  if (coerced === undefined) delete element[sub.name];
  else element[sub.name] = coerced;
  // Re-coercing drops an emptied object, and a reference left without its `value`.
  return def.multiValued ? coerceElement(def, element, label) : coerceValue(def, element, label);
}

/**
 * Elements of a multi-valued attribute selected by `matched` (all of them when the path has a
 * sub-attribute but no filter). An add/replace that matches nothing creates the element `create`
 * describes (Entra, interop item 5); a remove that matches nothing is 400 noTarget (RFC 7644 §3.5.2).
 */
function patchElements(step: Step, current: unknown, matched: (element: unknown) => boolean, create: Json | undefined): unknown {
  const { op, def, sub, value, label } = step;
  const list = Array.isArray(current) ? [...current] : [];
  let hits = list.flatMap((e, i) => (matched(e) ? [i] : []));
  const incoming = op === 'remove' ? undefined : sub ? coerceValue(sub, value, label) : coerceElement(def, value, label);
  if (op === 'add' && incoming === undefined) return current;
  if (incoming === undefined) {
    if (hits.length === 0) {
      if (op === 'remove') throw badRequest('noTarget', `No value of '${label}' matches the filter`);
      return current;
    }
    if (!sub) return nonEmpty(list.filter((_, i) => !hits.includes(i)));
    const kept = list.map((e, i) => (hits.includes(i) ? subValue({ ...step, op: 'remove' }, sub, e) : e));
    return nonEmpty(kept.filter((e) => e !== undefined));
  }
  if (hits.length === 0) {
    if (!create) throw badRequest('noTarget', `No value of '${label}' matches the filter, and the filter does not describe a new one`);
    list.push(create);
    hits = [list.length - 1];
  }
  const fresh = new Set<unknown>();
  for (const i of hits) {
    const element = sub ? subValue(step, sub, list[i]) : { ...(list[i] as Json), ...(incoming as Json) };
    list[i] = element;
    fresh.add(element);
  }
  settlePrimary(list, fresh, label);
  return nonEmpty(list);
}

/**
 * A filter on a single-valued complex attribute: Entra removes a manager with
 * `manager[value eq "M1"]` (interop item 8). A remove that matches nothing is a no-op, not
 * noTarget: the manager has already changed or gone, which is what the client wanted.
 */
function patchFilteredSingle(step: Step, current: unknown, hit: boolean, create: Json | undefined): unknown {
  const { op, def, sub, value, label } = step;
  if (op === 'remove') return !hit ? current : sub ? subValue(step, sub, current) : undefined;
  const base = hit ? current : create;
  if (base === undefined) throw badRequest('noTarget', `'${label}' does not match the filter, and the filter does not describe a new value`);
  if (sub) return subValue(step, sub, base);
  const incoming = coerceValue(def, value, label);
  if (incoming === undefined) return op === 'add' ? current : undefined;
  return coerceValue(def, { ...(base as Json), ...(incoming as Json) }, label);
}

/**
 * Applies one add/replace/remove to a (non-members) attribute of `data`, in place. readOnly
 * targets are 400 mutability; writeOnly ones (password) are validated and dropped, never stored.
 */
export function applyAttributeOperation(data: Json, op: PatchOpName, value: unknown, target: AttributeTarget, context: AttributeContext): void {
  const { resolved, filter, label } = target;
  const { def, sub } = resolved;
  if (def.mutability === 'readOnly' || sub?.mutability === 'readOnly') {
    throw badRequest('mutability', `Attribute '${label}' is readOnly (RFC 7643 §7)`);
  }
  if (def.mutability === 'writeOnly' || sub?.mutability === 'writeOnly') {
    if (op !== 'remove') coerceValue(sub ?? def, value, label);
    return;
  }
  if (filter && def.type !== 'complex') throw badRequest('invalidPath', `'${label}' has no sub-attributes to filter on`);
  const holder = attributeHolder(context.type, data, resolved, op !== 'remove');
  if (!holder) return;
  const current = holder[def.name];
  const step: Step = { op, def, sub, value, label };
  const parent: ResolvedAttribute = { schema: resolved.schema, def, common: resolved.common };
  const create = filter && elementFromFilter(filter, parent);
  let next: unknown;
  if (filter && def.multiValued) next = patchElements(step, current, (e) => context.matches(filter, e, parent), create);
  else if (filter) next = patchFilteredSingle(step, current, current !== undefined && context.matches(filter, current, parent), create);
  else if (sub && def.multiValued) next = op === 'remove' && !Array.isArray(current) ? current : patchElements(step, current, () => true, {});
  else if (sub) next = subValue(step, sub, current);
  else next = wholeValue(step, current);
  checkImmutable(def, current, next, label);
  if (next === undefined) delete holder[def.name];
  else holder[def.name] = next;
}
