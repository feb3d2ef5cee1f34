import assert from 'node:assert/strict';
import type { TestServer } from '../support/test-server.ts';

/** RFC 7644 §3.1 / §8.2 message and RFC 7643 schema URNs, spelled out so a typo in src/ cannot hide. */
export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
export const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const ADSCIM_GROUP = 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group';

export type ScimResult = Awaited<ReturnType<TestServer['scim']>>;

/** Interop item 14 / RFC 7644 §3.1: every SCIM body is served as application/scim+json. */
export function assertScimContentType(res: ScimResult): void {
  const type = res.headers.get('content-type') ?? '';
  assert.match(type, /^application\/scim\+json(\s*;|$)/i, `Content-Type of a SCIM body is "${type}"`);
}

/** Status plus a readable dump of the body when it is not the expected one. */
export function assertStatus(res: ScimResult, status: number): void {
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}: ${res.text.slice(0, 2000)}`);
}

/**
 * RFC 7644 §3.12: `{"schemas":[Error],"status":"<string>","scimType"?,"detail"}` with the same
 * status as the HTTP response, served as application/scim+json.
 */
export function assertScimError(res: ScimResult, status: number, scimType?: string): void {
  assertStatus(res, status);
  assertScimContentType(res);
  assert.ok(res.json && typeof res.json === 'object', `error body is JSON: ${res.text}`);
  assert.deepEqual(res.json.schemas, [ERROR]);
  assert.equal(res.json.status, String(status), 'status is the HTTP status as a JSON string (§3.12)');
  assert.equal(typeof res.json.detail, 'string');
  assert.ok(res.json.detail.length > 0, 'detail is not empty');
  if (scimType !== undefined) assert.equal(res.json.scimType, scimType, `scimType of ${res.text}`);
}

/** A 4xx SCIM error of any status in the range (for cases the RFC leaves open), never 5xx. */
export function assertClientError(res: ScimResult): void {
  assert.ok(res.status >= 400 && res.status < 500, `expected a 4xx, got ${res.status}: ${res.text.slice(0, 2000)}`);
  assertScimError(res, res.status);
}

const LIST_KEYS = new Set(['schemas', 'totalResults', 'startIndex', 'itemsPerPage', 'Resources']);

/**
 * RFC 7644 §3.4.2: a ListResponse whose integers are JSON numbers (Okta item 3). Returns Resources
 * (an empty array when the server omitted it, which §3.4.2 allows only for zero results).
 */
export function assertListResponse(
  res: ScimResult,
  expected: { totalResults: number; startIndex?: number; itemsPerPage?: number },
): Record<string, any>[] {
  assertStatus(res, 200);
  assertScimContentType(res);
  const body = res.json;
  assert.deepEqual(body.schemas, [LIST_RESPONSE]);
  for (const key of Object.keys(body)) assert.ok(LIST_KEYS.has(key), `unexpected ListResponse member "${key}"`);
  assert.equal(typeof body.totalResults, 'number');
  assert.equal(body.totalResults, expected.totalResults, 'totalResults');
  assert.equal(typeof body.startIndex, 'number');
  assert.equal(body.startIndex, expected.startIndex ?? 1, 'startIndex is echoed');
  const resources = (body.Resources ?? []) as Record<string, any>[];
  assert.ok(Array.isArray(resources), 'Resources is an array');
  if (expected.itemsPerPage !== undefined) assert.equal(resources.length, expected.itemsPerPage, 'number of Resources');
  if (body.itemsPerPage !== undefined) {
    assert.equal(typeof body.itemsPerPage, 'number');
    assert.equal(body.itemsPerPage, resources.length, 'itemsPerPage equals the number of Resources');
  }
  return resources;
}

/** RFC 7643 §3.1 meta on a returned resource, checked against the server's base URL. */
export function assertMeta(resource: Record<string, any>, scimUrl: string, resourceType: 'User' | 'Group'): void {
  assert.equal(typeof resource.id, 'string');
  assert.ok(resource.id.length > 0);
  const meta = resource.meta;
  assert.ok(meta && typeof meta === 'object', 'meta is present');
  assert.equal(meta.resourceType, resourceType);
  assert.equal(meta.location, `${scimUrl}/${resourceType}s/${resource.id}`);
  for (const key of ['created', 'lastModified'] as const) {
    assert.equal(typeof meta[key], 'string', `meta.${key}`);
    assert.ok(!Number.isNaN(Date.parse(meta[key])), `meta.${key} is a dateTime: ${meta[key]}`);
  }
  assert.ok(Date.parse(meta.lastModified) >= Date.parse(meta.created), 'lastModified is not before created');
  assert.match(meta.version, /^W\/".+"$/, 'meta.version is a weak ETag (§3.14)');
}

/** Every JSON path whose value is null (interop item 13: "no nulls"). */
export function nullPaths(value: unknown, path = '$'): string[] {
  if (value === null) return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => nullPaths(v, `${path}[${i}]`));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => nullPaths(v, `${path}.${k}`));
  }
  return [];
}

/** Every object key anywhere in the document. */
export function allKeys(value: unknown, path = '$'): { key: string; path: string }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => allKeys(v, `${path}[${i}]`));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => [{ key: k, path: `${path}.${k}` }, ...allKeys(v, `${path}.${k}`)]);
  }
  return [];
}

/** True when any string anywhere in the document equals `needle`. */
export function containsString(value: unknown, needle: string): boolean {
  if (typeof value === 'string') return value === needle;
  if (Array.isArray(value)) return value.some((v) => containsString(v, needle));
  if (typeof value === 'object' && value !== null) return Object.values(value).some((v) => containsString(v, needle));
  return false;
}

export function patch(...operations: Record<string, unknown>[]): Record<string, unknown> {
  return { schemas: [PATCH_OP], Operations: operations };
}

/** `?filter=...` with the filter percent-encoded (spaces and quotes are not legal in a URL). */
export function q(params: Record<string, string | number>): string {
  return `?${new URLSearchParams(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]))).toString()}`;
}

/** POST a resource; asserts 201 and returns the created representation. */
export async function create(s: TestServer, endpoint: '/Users' | '/Groups', body: Record<string, unknown>, token?: string): Promise<Record<string, any>> {
  const res = await s.scim(endpoint, { method: 'POST', body, ...(token === undefined ? {} : { token }) });
  assertStatus(res, 201);
  return res.json;
}

export function minimalUser(userName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemas: [USER], userName, active: true, ...extra };
}

/** The integer inside a weak ETag W/"n" (the store's version counter). */
export function versionNumber(etag: string): number {
  const m = /^W\/"(\d+)"$/.exec(etag);
  assert.ok(m, `ETag ${etag} carries a version number`);
  return Number(m[1]);
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function inBatches<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}

/** The member ids of a group, read back through GET (RFC 7643 §4.2). */
export async function memberIds(s: TestServer, groupId: string, token?: string): Promise<string[]> {
  const res = await s.scim(`/Groups/${groupId}`, token === undefined ? {} : { token });
  assertStatus(res, 200);
  const members = (res.json.members ?? []) as { value: string }[];
  return members.map((m) => m.value).sort();
}

/**
 * The stores a suite runs on. PostgreSQL follows test/support/services.ts: unreachable outside CI
 * the suite is skipped with a loud message; under CI it runs (and fails).
 */
export interface StoreVariant {
  label: string;
  /** Options for describe(): a skip reason when PostgreSQL is unreachable outside CI. */
  options: { skip?: string };
  start(): Promise<{ server: TestServer; cleanup: () => Promise<void> }>;
}

export async function storeVariants(prefix: string): Promise<StoreVariant[]> {
  const { postgresDown, scratchPostgresDatabase } = await import('../support/services.ts');
  const { startTestServer } = await import('../support/test-server.ts');
  const down = await postgresDown();
  if (down !== null && !process.env.CI) process.stderr.write(`\n!!! SKIPPED (${prefix} on PostgreSQL): PostgreSQL is not reachable (${down}); start it (see .ci/run)\n`);
  return [
    {
      label: 'embedded store',
      options: {},
      start: async () => {
        const server = await startTestServer();
        return { server, cleanup: () => server.stop() };
      },
    },
    {
      label: 'PostgreSQL',
      options: down !== null && !process.env.CI ? { skip: `PostgreSQL is not reachable (${down})` } : {},
      start: async () => {
        const db = await scratchPostgresDatabase(prefix);
        const server = await startTestServer({ store: db.url });
        return {
          server,
          cleanup: async () => {
            await server.stop();
            await db.drop();
          },
        };
      },
    },
  ];
}
