import { badRequest } from '../domain/errors.ts';

/** Query parameters of a list or search (RFC 7644 §3.4.2, §3.4.3). */
export interface ListParams {
  filter?: string;
  sortBy?: string;
  sortOrder?: 'ascending' | 'descending';
  startIndex: number;
  count: number;
  attributes?: string[];
  excludedAttributes?: string[];
}

export interface PagingLimits {
  defaultCount: number;
  maxCount: number;
}

type Raw = Record<string, unknown>;

/** From a GET query string (all strings) or a POST /.search body (typed JSON). */
export function parseListParams(raw: Raw, limits: PagingLimits): ListParams {
  const params: ListParams = {
    startIndex: Math.max(1, integer(raw, 'startIndex') ?? 1),
    // §3.4.2.4: a negative count is 0; more than the server allows is capped.
    count: Math.min(limits.maxCount, Math.max(0, integer(raw, 'count') ?? limits.defaultCount)),
  };
  const filter = text(raw, 'filter');
  if (filter !== undefined) params.filter = filter;
  const sortBy = text(raw, 'sortBy');
  if (sortBy !== undefined) params.sortBy = sortBy;
  const sortOrder = text(raw, 'sortOrder');
  if (sortOrder !== undefined) {
    const lower = sortOrder.toLowerCase();
    if (lower !== 'ascending' && lower !== 'descending') {
      throw badRequest('invalidValue', `sortOrder must be "ascending" or "descending", not "${sortOrder}"`);
    }
    params.sortOrder = lower;
  }
  const attributes = list(raw, 'attributes');
  if (attributes) params.attributes = attributes;
  const excluded = list(raw, 'excludedAttributes');
  if (excluded) params.excludedAttributes = excluded;
  return params;
}

/** Parameter names are case-insensitive in practice (clients send `startindex`). */
function pick(raw: Raw, name: string): unknown {
  if (name in raw) return raw[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(raw)) if (key.toLowerCase() === lower) return raw[key];
  return undefined;
}

function text(raw: Raw, name: string): string | undefined {
  const value = pick(raw, name);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw badRequest('invalidValue', `${name} must be a string`);
  return value;
}

function integer(raw: Raw, name: string): number | undefined {
  const value = pick(raw, name);
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || !Number.isSafeInteger(n)) throw badRequest('invalidValue', `${name} must be an integer, not "${String(value)}"`);
  return n;
}

/** Comma-separated in a query string, an array in a search body. */
function list(raw: Raw, name: string): string[] | undefined {
  const value = pick(raw, name);
  if (value === undefined || value === null || value === '') return undefined;
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
  if (!items || items.some((i) => typeof i !== 'string')) throw badRequest('invalidValue', `${name} must be a list of attribute names`);
  const names = (items as string[]).map((s) => s.trim()).filter((s) => s.length > 0);
  return names.length > 0 ? names : undefined;
}
