import { badRequest } from '../../domain/errors.ts';
import { isPlainObject } from '../resource-input/coerce-value.ts';
import { findKey } from '../schema/resolve-attribute.ts';

export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
/** Bounds the work one request can ask for; Entra sends at most a few dozen operations. */
export const MAX_PATCH_OPERATIONS = 1000;

export type PatchOpName = 'add' | 'replace' | 'remove';

export interface PatchOperation {
  op: PatchOpName;
  /** Absent (or empty) means the resource itself (RFC 7644 §3.5.2). */
  path?: string;
  /** Undefined when the operation carries no `value`. */
  value: unknown;
}

const OPS = new Set<string>(['add', 'replace', 'remove']);

const member = (obj: Record<string, unknown>, name: string): unknown => {
  const key = findKey(obj, name);
  return key === undefined ? undefined : obj[key];
};

function parseOperation(raw: unknown, index: number): PatchOperation {
  const where = `Operations[${index}]`;
  if (!isPlainObject(raw)) throw badRequest('invalidSyntax', `${where} must be an object`);
  const op = member(raw, 'op');
  // Entra's default dialect capitalises ops ("Replace"); RFC 7644 §3.5.2 spells them lowercase.
  const name = typeof op === 'string' ? op.toLowerCase() : undefined;
  if (name === undefined || !OPS.has(name)) {
    throw badRequest('invalidSyntax', `${where}.op must be "add", "replace" or "remove", got ${JSON.stringify(op ?? null)}`);
  }
  const path = member(raw, 'path');
  if (path !== undefined && path !== null && typeof path !== 'string') throw badRequest('invalidPath', `${where}.path must be a string`);
  const value = member(raw, 'value');
  // RFC 7644 §3.5.2.1: "The operation MUST contain a 'value' member".
  if (name === 'add' && value === undefined) throw badRequest('invalidSyntax', `${where}: add requires a "value"`);
  return { op: name as PatchOpName, ...(typeof path === 'string' && path.trim() !== '' && { path: path.trim() }), value };
}

/**
 * Reads an RFC 7644 §3.5.2 PatchOp message. `schemas` may be left out (clients in the wild do),
 * but when present it must name the PatchOp schema. `Operations` is matched case-insensitively
 * and must be a non-empty array of at most MAX_PATCH_OPERATIONS operations. Throws 400 invalidSyntax.
 */
export function parsePatchRequest(body: unknown): PatchOperation[] {
  if (!isPlainObject(body)) throw badRequest('invalidSyntax', 'The PATCH body must be a JSON object (RFC 7644 §3.5.2)');
  const schemas = member(body, 'schemas');
  if (schemas !== undefined && !(Array.isArray(schemas) && schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_OP_SCHEMA.toLowerCase()))) {
    throw badRequest('invalidSyntax', `'schemas' must contain "${PATCH_OP_SCHEMA}"`);
  }
  const operations = member(body, 'Operations');
  if (!Array.isArray(operations) || operations.length === 0) {
    throw badRequest('invalidSyntax', "'Operations' must be a non-empty array (RFC 7644 §3.5.2)");
  }
  if (operations.length > MAX_PATCH_OPERATIONS) {
    throw badRequest('invalidSyntax', `A PATCH may carry at most ${MAX_PATCH_OPERATIONS} operations, got ${operations.length}`);
  }
  return operations.map(parseOperation);
}
