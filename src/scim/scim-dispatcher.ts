import { badRequest, notFound, ScimError } from '../domain/errors.ts';
import { BulkProcessor, type BulkLimits } from './bulk-processor.ts';
import { parseFilter } from './filter/parse-filter.ts';
import { parseListParams, type PagingLimits } from './list-params.ts';
import { errorResponse, isUnexpected, listResponse, reportToStderr, SEARCH_REQUEST, type ListedResource, type ScimResponse } from './messages.ts';
import type { ResourceEndpoint, ScimCall } from './resource-endpoint.ts';
import type { ResourceStore } from './resource-store.ts';
import { resourceTypesResource, schemasResource, serviceProviderConfig } from './schema/discovery.ts';

export interface ScimRequest {
  method: string;
  /** Path below the SCIM base URL, e.g. `/Users/42`. */
  path: string;
  query: Record<string, string>;
  body: unknown;
  call: ScimCall;
}

export interface DispatcherOptions {
  paging: PagingLimits;
  bulk: BulkLimits;
  /** Receives every unforeseen error (answered as a generic 500); default: stderr. */
  onUnexpectedError?: (error: unknown, where: string) => void;
}

/**
 * Routes a SCIM request to its operation (RFC 7644 §3). Protocol-level, no HTTP: Bulk
 * (§3.7) re-enters here for each of its operations.
 */
export class ScimDispatcher {
  private readonly bulk: BulkProcessor;

  constructor(
    private readonly users: ResourceEndpoint,
    private readonly groups: ResourceEndpoint,
    private readonly store: ResourceStore,
    private readonly options: DispatcherOptions,
  ) {
    this.bulk = new BulkProcessor(options.bulk, (request) => this.handle(request));
  }

  /** Never throws: every failure becomes an RFC 7644 §3.12 error response. */
  async handle(request: ScimRequest): Promise<ScimResponse> {
    try {
      return await this.route(request);
    } catch (error) {
      if (isUnexpected(error)) (this.options.onUnexpectedError ?? reportToStderr)(error, `${request.method} ${request.path}`);
      return errorResponse(error);
    }
  }

  private async route(request: ScimRequest): Promise<ScimResponse> {
    const { method, call } = request;
    const segments = request.path.split('/').filter((s) => s.length > 0).map(decodeSegment);
    const [head, id, extra] = segments;
    if (extra !== undefined) throw notFound(`No such endpoint: ${request.path}`);
    const endpoint = head === undefined ? undefined : this.endpointFor(head);

    if (endpoint) {
      if (id === undefined) {
        if (method === 'GET') return endpoint.list(call, request.query);
        if (method === 'POST') return endpoint.create(call, request.body);
        throw methodNotAllowed(method, request.path);
      }
      if (id === '.search') {
        if (method !== 'POST') throw methodNotAllowed(method, request.path);
        return endpoint.list(call, searchBody(request.body));
      }
      switch (method) {
        case 'GET': return endpoint.get(call, id, request.query);
        case 'PUT': return endpoint.replace(call, id, request.body);
        case 'PATCH': return endpoint.patch(call, id, request.body);
        case 'DELETE': return endpoint.delete(call, id);
        default: throw methodNotAllowed(method, request.path);
      }
    }
    switch (head?.toLowerCase()) {
      case '.search':
        if (method !== 'POST' || id !== undefined) throw methodNotAllowed(method, request.path);
        return this.searchAll(call, searchBody(request.body));
      case 'bulk':
        if (method !== 'POST' || id !== undefined) throw methodNotAllowed(method, request.path);
        return this.bulk.process(call, request.body);
      case 'me':
        // RFC 7644 §3.11: /Me is optional; tokens here belong to a tenant, not a user.
        throw new ScimError(501, '/Me is not supported: tokens identify a tenant, not a user');
      case 'serviceproviderconfig':
      case 'resourcetypes':
      case 'schemas':
        return this.discovery(request, head!.toLowerCase(), id);
      default:
        throw notFound(`No such endpoint: ${request.path}`);
    }
  }

  private endpointFor(segment: string): ResourceEndpoint | undefined {
    const lower = segment.toLowerCase();
    if (lower === 'users') return this.users;
    if (lower === 'groups') return this.groups;
    return undefined;
  }

  /** RFC 7643 §5-§7 discovery; filtering there is 403 (RFC 7644 §4). */
  private discovery(request: ScimRequest, kind: string, id: string | undefined): ScimResponse {
    if (request.method !== 'GET') throw methodNotAllowed(request.method, request.path);
    if (request.query.filter !== undefined) throw new ScimError(403, `Filtering is not supported on ${request.path}`);
    const base = request.call.baseUrl;
    if (kind === 'serviceproviderconfig') {
      if (id !== undefined) throw notFound(`No such endpoint: ${request.path}`);
      return { status: 200, body: serviceProviderConfig({ baseUrl: base, bulk: this.options.bulk, filterMaxResults: this.options.paging.maxCount }) };
    }
    const all = kind === 'schemas' ? schemasResource(base) : resourceTypesResource(base);
    if (id === undefined) return { status: 200, body: listResponse(all.length, 1, all) };
    const one = all.find((r) => String(r.id).toLowerCase() === id.toLowerCase() || String(r.name).toLowerCase() === id.toLowerCase());
    if (!one) throw notFound(`${kind === 'schemas' ? 'Schema' : 'ResourceType'} ${id} not found`);
    return { status: 200, body: one };
  }

  /**
   * Root search (§3.4.3) over Users then Groups. A filter naming an attribute one type lacks
   * matches nothing of that type rather than failing the whole search.
   */
  private async searchAll(call: ScimCall, raw: Record<string, unknown>): Promise<ScimResponse> {
    const params = parseListParams(raw, this.options.paging);
    const filter = params.filter === undefined ? undefined : parseFilter(params.filter);
    const parts: { endpoint: ResourceEndpoint; total: number }[] = [];
    for (const endpoint of [this.users, this.groups]) {
      try {
        const counted = await this.store.list(endpoint.type.name, call.tenantId, {
          ...(filter ? { filter } : {}), startIndex: 1, count: 0, schema: endpoint.type,
        });
        parts.push({ endpoint, total: counted.totalResults });
      } catch (error) {
        if (!(error instanceof ScimError && error.scimType === 'invalidFilter')) throw error;
        parts.push({ endpoint, total: 0 });
      }
    }
    const resources: ListedResource[] = [];
    let skip = params.startIndex - 1;
    let room = params.count;
    for (const { endpoint, total } of parts) {
      if (room === 0) break;
      if (skip >= total) { skip -= total; continue; }
      const page = await endpoint.list(call, { ...raw, startIndex: skip + 1, count: room });
      const found = (page.body?.Resources ?? []) as ListedResource[];
      resources.push(...found);
      room -= found.length;
      skip = 0;
    }
    const total = parts.reduce((n, p) => n + p.total, 0);
    return { status: 200, body: listResponse(total, params.startIndex, resources) };
  }
}

/** A POST /.search body (§3.4.3); the schemas member is optional in practice. */
function searchBody(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('invalidSyntax', 'A search request body must be a JSON object');
  const schemas = (body as Record<string, unknown>).schemas;
  if (Array.isArray(schemas) && !schemas.includes(SEARCH_REQUEST)) {
    throw badRequest('invalidSyntax', `A search request must carry the schema ${SEARCH_REQUEST}`);
  }
  return body as Record<string, unknown>;
}

/** A path segment with malformed percent-encoding (`%ZZ`) is the client's error, not a 500. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest('invalidSyntax', `Malformed percent-encoding in the path segment "${segment}"`);
  }
}

function methodNotAllowed(method: string, path: string): ScimError {
  return new ScimError(405, `${method} is not supported on ${path}`);
}
