import { badRequest, ScimError } from '../../domain/errors.ts';
import type { Filter } from '../filter/ast.ts';
import { matchesElement } from '../filter/evaluate-filter.ts';
import { parsePatchPath } from '../filter/parse-path.ts';
import { checkValueFilter } from '../filter/resolve-filter.ts';
import { checkRequired } from '../resource-input/check-required.ts';
import { isPlainObject } from '../resource-input/coerce-value.ts';
import { findExtension, refreshSchemas } from '../resource-input/resource-schemas.ts';
import { sameValue } from '../resource-input/same-value.ts';
import type { MemberRef } from '../resource-store.ts';
import type { ResourceTypeDef, SchemaDef } from '../schema/attribute.ts';
import { canonicalPath, resolveAttribute, type ResolvedAttribute } from '../schema/resolve-attribute.ts';
import { applyAttributeOperation } from './attribute-operation.ts';
import { MemberDeltaBuilder, type MemberDelta } from './member-delta.ts';
import { applyMemberOperation } from './member-operation.ts';
import { parsePatchRequest, type PatchOperation } from './patch-request.ts';

export type { MemberDelta } from './member-delta.ts';

export interface PatchResult {
  data: Record<string, unknown>;
  /** Present when the request changes Group membership; `data` never holds members. */
  members?: MemberDelta;
  /** False for a PATCH that changes nothing, which must not bump the version. */
  changed: boolean;
}

export interface PatchOptions {
  /**
   * The resource's id. Okta resends it in path-less replaces (`{"id":"<gid>","displayName":..}`,
   * interop Okta item 6): equal to this id it is ignored, different it is 400 mutability. Without
   * it, any `id` in a value is ignored - it cannot change anything, since `data` holds no id.
   */
  id?: string;
}

interface Context {
  type: ResourceTypeDef;
  data: Record<string, unknown>;
  id: string | undefined;
  delta: MemberDeltaBuilder;
  loadMembers: () => Promise<MemberRef[]>;
}

/** One operation with a path; a path-less one is split into one step per value key. */
type Step = PatchOperation & { path: string };

const isMembers = (type: ResourceTypeDef, resolved: ResolvedAttribute) =>
  type.name === 'Group' && !resolved.common && resolved.def.name === 'members';

/** The extension object as a whole (`path` or path-less key = the URN): its attributes merge. */
async function applyExtension(context: Context, step: Step, extension: SchemaDef): Promise<void> {
  const { op, value } = step;
  if (op === 'remove' || value === null || value === undefined) {
    if (op !== 'add') delete context.data[extension.id];
    return;
  }
  if (!isPlainObject(value)) throw badRequest('invalidValue', `'${extension.id}' must be an object of extension attributes`);
  for (const [attr, item] of Object.entries(value)) {
    await applyAtPath(context, { ...step, path: `${extension.id}:${attr}`, value: item });
  }
}

/** A value filter naming unknown sub-attributes makes the PATH invalid (RFC 7644 §3.5.2: invalidPath). */
function checkPathFilter(filter: Filter, parent: ResolvedAttribute, text: string): void {
  try {
    checkValueFilter(filter, parent);
  } catch (error) {
    if (error instanceof ScimError) throw badRequest('invalidPath', `Invalid path ${JSON.stringify(text)}: ${error.message}`);
    throw error;
  }
}

async function applyAtPath(context: Context, step: Step): Promise<void> {
  const { type } = context;
  const extension = findExtension(type, step.path);
  if (extension) return applyExtension(context, step, extension);
  const path = parsePatchPath(step.path);
  const resolved = resolveAttribute(type, path.sub === undefined ? path.attr : { ...path.attr, sub: path.sub });
  if (!resolved) throw badRequest('invalidPath', `'${step.path}' is not an attribute of ${type.name}`);
  const parent: ResolvedAttribute = { schema: resolved.schema, def: resolved.def, common: resolved.common };
  const filter = path.filter;
  if (filter) checkPathFilter(filter, parent, step.path);
  if (isMembers(type, resolved)) {
    const matches = (f: Filter, element: unknown) => matchesElement(f, element, parent, type);
    const target = { ...(filter && { filter }), ...(resolved.sub && { sub: resolved.sub.name }) };
    return applyMemberOperation(step.op, step.value, target, { delta: context.delta, loadMembers: context.loadMembers, matches });
  }
  const ownId = resolved.common && resolved.def.name === 'id' && !filter && !resolved.sub && step.op !== 'remove';
  if (ownId && (context.id === undefined || step.value === context.id)) return;
  applyAttributeOperation(context.data, step.op, step.value, { resolved, ...(filter && { filter }), label: canonicalPath(type, resolved) }, {
    type,
    matches: (f, element, p) => matchesElement(f, element, p, type),
  });
}

/**
 * A path-less add/replace: "the target location is assumed to be the resource itself" (RFC 7644
 * §3.5.2.1). Each key is an attribute name, an extension URN whose object merges, or - Entra's
 * aadOptscim062020 dialect, interop item 6 - an attribute PATH (`name.givenName`,
 * `urn:...:User:employeeNumber`), so no key with a dot is ever stored. `schemas` is the server's
 * to maintain and is skipped.
 */
async function applyToResource(context: Context, operation: PatchOperation): Promise<void> {
  // RFC 7644 §3.5.2.2: "If 'path' is unspecified, the operation fails with ... noTarget".
  if (operation.op === 'remove') throw badRequest('noTarget', 'remove requires a path (RFC 7644 §3.5.2.2)');
  if (!isPlainObject(operation.value)) {
    throw badRequest('invalidSyntax', `${operation.op} without a path needs an object of attributes as its value`);
  }
  for (const [key, value] of Object.entries(operation.value)) {
    if (key.toLowerCase() === 'schemas') continue;
    await applyAtPath(context, { op: operation.op, path: key, value });
  }
}

/**
 * Applies an RFC 7644 §3.5.2 PatchOp message to a copy of `data`. Operations apply in order and
 * atomically: the first failing one throws its ScimError (detail prefixed with its index) and
 * nothing is applied. Group `members` never touch `data`: they fold into `members`, and the stored
 * members are read (once, via `loadMembers`) only for a remove whose filter is not a plain
 * `value eq` list. Every client shape in docs/scim-interop.md is accepted.
 */
export async function applyPatch(
  type: ResourceTypeDef,
  data: Record<string, unknown>,
  body: unknown,
  loadMembers: () => Promise<MemberRef[]>,
  options: PatchOptions = {},
): Promise<PatchResult> {
  const operations = parsePatchRequest(body);
  let stored: Promise<MemberRef[]> | undefined;
  const context: Context = {
    type,
    data: structuredClone(data),
    id: options.id,
    delta: new MemberDeltaBuilder(),
    loadMembers: () => (stored ??= loadMembers()),
  };
  for (const [index, operation] of operations.entries()) {
    try {
      if (operation.path === undefined) await applyToResource(context, operation);
      else await applyAtPath(context, { ...operation, path: operation.path });
    } catch (error) {
      if (error instanceof ScimError) throw new ScimError(error.status, `Operations[${index}]: ${error.message}`, error.scimType);
      throw error;
    }
  }
  refreshSchemas(type, context.data);
  checkRequired(type, context.data, 'mutability');
  const members = context.delta.build();
  return { data: context.data, ...(members && { members }), changed: members !== undefined || !sameValue(data, context.data) };
}
