import { badRequest, ScimError } from '../domain/errors.ts';
import { BULK_REQUEST, BULK_RESPONSE, errorResponse, type ScimResponse } from './messages.ts';
import type { ScimCall } from './resource-endpoint.ts';
import type { ScimRequest } from './scim-dispatcher.ts';

export interface BulkLimits {
  maxOperations: number;
  /** Bytes; enforced on the raw body by the transport before parsing (RFC 7644 §3.7.4). */
  maxPayloadSize: number;
}

interface BulkOperation {
  method: string;
  path: string;
  bulkId?: string;
  version?: string;
  data?: unknown;
}

const BULK_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const REFERENCE = /^bulkId:(.+)$/;

/**
 * RFC 7644 §3.7. Each operation is its own transaction (the RFC does not make Bulk atomic).
 * Operations that reference a `bulkId` not created yet wait for it; ones that can never be
 * resolved (unknown or circular references) fail with 409.
 */
export class BulkProcessor {
  constructor(
    private readonly limits: BulkLimits,
    private readonly dispatch: (request: ScimRequest) => Promise<ScimResponse>,
  ) {}

  async process(call: ScimCall, body: unknown): Promise<ScimResponse> {
    const { operations, failOnErrors } = this.parse(body);
    const results: (Record<string, unknown> | undefined)[] = new Array(operations.length);
    const created = new Map<string, string>();
    let pending = operations.map((op, index) => ({ op, index }));
    let errors = 0;

    while (pending.length > 0) {
      const waiting: typeof pending = [];
      // Resources addressed by operations left waiting in this pass. A later operation on the same
      // resource waits too, so that operations on one resource keep the request's order: a DELETE
      // listed last never runs before a PATCH listed first that only waited for its bulkId. A POST
      // creates a new resource that nothing earlier can have addressed except by waiting for it.
      // Targets are compared as resolved now: a bulkId created earlier in this pass names the same
      // resource as its id.
      const blocked = (target: string) =>
        waiting.some((w) => w.op.method !== 'POST' && targetOf(w.op.path, created) === target);
      for (const item of pending) {
        if (failOnErrors !== undefined && errors >= failOnErrors) break;
        const target = item.op.method === 'POST' ? undefined : targetOf(item.op.path, created);
        const unresolved = referencesOf(item.op).some((r) => !created.has(r));
        if (unresolved || (target !== undefined && blocked(target))) {
          waiting.push(item);
          continue;
        }
        const result = await this.run(call, item.op, created);
        results[item.index] = result;
        if (Number(result.status) >= 400) errors += 1;
      }
      if (failOnErrors !== undefined && errors >= failOnErrors) break;
      if (waiting.length === pending.length) {
        for (const { op, index } of waiting) {
          const refs = referencesOf(op);
          const detail = refs.some((r) => !created.has(r))
            ? `Operation references a bulkId that is never created or is circular: ${refs.join(', ')}`
            : 'Operation waits for an earlier operation on the same resource whose bulkId is never created or is circular';
          results[index] = outcome(op, errorResponse(new ScimError(409, detail)), undefined);
        }
        break;
      }
      pending = waiting;
    }
    return {
      status: 200,
      body: { schemas: [BULK_RESPONSE], Operations: results.filter((r): r is Record<string, unknown> => r !== undefined) },
    };
  }

  private parse(body: unknown): { operations: BulkOperation[]; failOnErrors: number | undefined } {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('invalidSyntax', 'A bulk request must be a JSON object');
    const message = body as Record<string, unknown>;
    if (Array.isArray(message.schemas) && !message.schemas.includes(BULK_REQUEST)) {
      throw badRequest('invalidSyntax', `A bulk request must carry the schema ${BULK_REQUEST}`);
    }
    const ops = message.Operations ?? message.operations;
    if (!Array.isArray(ops) || ops.length === 0) throw badRequest('invalidSyntax', 'Operations must be a non-empty array');
    if (ops.length > this.limits.maxOperations) {
      throw new ScimError(413, `The bulk request has ${ops.length} operations; at most ${this.limits.maxOperations} are accepted`);
    }
    const failOnErrors = message.failOnErrors;
    if (failOnErrors !== undefined && (!Number.isInteger(failOnErrors) || (failOnErrors as number) < 1)) {
      throw badRequest('invalidValue', 'failOnErrors must be a positive integer');
    }
    const seen = new Set<string>();
    const operations = ops.map((raw, i): BulkOperation => {
      if (typeof raw !== 'object' || raw === null) throw badRequest('invalidSyntax', `Operations[${i}] must be an object`);
      const op = raw as Record<string, unknown>;
      const method = typeof op.method === 'string' ? op.method.toUpperCase() : '';
      if (!BULK_METHODS.has(method)) throw badRequest('invalidValue', `Operations[${i}].method must be one of POST, PUT, PATCH, DELETE`);
      if (typeof op.path !== 'string' || !/^\/(Users|Groups)(\/|$)/i.test(op.path)) {
        throw badRequest('invalidValue', `Operations[${i}].path must name /Users or /Groups`);
      }
      if (op.bulkId !== undefined && typeof op.bulkId !== 'string') throw badRequest('invalidValue', `Operations[${i}].bulkId must be a string`);
      if (method === 'POST' && op.bulkId === undefined) throw badRequest('invalidValue', `Operations[${i}]: POST requires a bulkId (§3.7)`);
      if (typeof op.bulkId === 'string') {
        if (seen.has(op.bulkId)) throw badRequest('uniqueness', `bulkId "${op.bulkId}" is used twice`);
        seen.add(op.bulkId);
      }
      return {
        method,
        path: op.path,
        ...(typeof op.bulkId === 'string' ? { bulkId: op.bulkId } : {}),
        ...(typeof op.version === 'string' ? { version: op.version } : {}),
        ...(op.data === undefined ? {} : { data: op.data }),
      };
    });
    return { operations, failOnErrors: failOnErrors as number | undefined };
  }

  private async run(call: ScimCall, op: BulkOperation, created: Map<string, string>): Promise<Record<string, unknown>> {
    const path = resolve(op.path, created) as string;
    const response = await this.dispatch({
      method: op.method,
      path,
      query: {},
      body: resolve(op.data, created),
      call: { ...call, ...(op.version === undefined ? {} : { ifMatch: op.version }) },
    });
    if (op.method === 'POST' && response.status === 201 && op.bulkId !== undefined) {
      created.set(op.bulkId, String(response.body?.id));
    }
    // §3.7: "location ... REQUIRED in a response, except in the event of a POST failure". An
    // operation on an existing resource names it by its path even when it answers without a body.
    return outcome(op, response, op.method === 'POST' ? undefined : `${call.baseUrl}${path.replace(/\/+$/, '')}`);
  }
}

function outcome(op: BulkOperation, response: ScimResponse, resourceUrl: string | undefined): Record<string, unknown> {
  const location = response.location ?? ((response.body?.meta as { location?: string } | undefined)?.location) ?? resourceUrl;
  return {
    method: op.method,
    ...(op.bulkId === undefined ? {} : { bulkId: op.bulkId }),
    ...(response.etag === undefined ? {} : { version: response.etag }),
    ...(location === undefined ? {} : { location }),
    status: String(response.status),
    ...(response.status >= 400 && response.body ? { response: response.body } : {}),
  };
}

/**
 * The resource an operation on an existing resource addresses, for ordering: `users/42`, with a
 * `bulkId:x` segment standing for the id it resolves to (or will resolve to).
 */
function targetOf(path: string, created: Map<string, string>): string | undefined {
  const [type, id] = path.split('/').filter((s) => s.length > 0);
  if (type === undefined || id === undefined) return undefined;
  const ref = REFERENCE.exec(id);
  return `${type.toLowerCase()}/${ref ? (created.get(ref[1]!) ?? id) : id}`;
}

/** Every `bulkId:x` string inside the path or data (§3.7.2). */
function referencesOf(op: BulkOperation): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') {
      const m = REFERENCE.exec(value);
      if (m) found.push(m[1]!);
    } else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  for (const segment of op.path.split('/')) walk(segment);
  walk(op.data);
  return found;
}

function resolve(value: unknown, created: Map<string, string>): unknown {
  if (typeof value === 'string') {
    if (value.includes('bulkId:')) {
      return value.split('/').map((segment) => {
        const m = REFERENCE.exec(segment);
        return m ? (created.get(m[1]!) ?? segment) : segment;
      }).join('/');
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, created));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, created)]));
  }
  return value;
}
