import type { AuditEventInput } from './audit-log.ts';
import { secretFreeJson } from './redact.ts';

/** The stored columns of a pending event that matching reads. */
export interface PendingEventRow {
  type: unknown;
  tenant_id: unknown;
  request_id: unknown;
  actor: unknown;
  payload: unknown;
}

const READS = new Set(['GET', 'HEAD']);

interface RequestPart {
  method?: unknown;
  path?: unknown;
  status?: unknown;
}

/**
 * One audit event per SCIM write that changed the directory. The change's 'directory.change'
 * event commits inside the write's transaction (as a pending event) with a `request` member
 * naming method, path and client; the request's own 'scim.request' event (status, body digest,
 * duration, resource ids) is only known after the answer. When both reach the same seal, the
 * request's event completes the change's `request` member and is not chained on its own: the
 * chain holds one event where it held two, with every field of both. A request event that
 * finds no pending change of its request (a read, a failure, a change sealed earlier, a crash
 * in between) is chained as it is.
 *
 * Request ids come from the client's `x-request-id` and need not be unique, so a request event
 * completes only a change of the same tenant, actor, method and path, the first one pending,
 * and at most one.
 */
export class RequestCompletions {
  private readonly waiting = new Map<string, AuditEventInput[]>();
  private readonly used = new Set<AuditEventInput>();

  constructor(inputs: readonly AuditEventInput[]) {
    for (const input of inputs) {
      // Reads change nothing: most request events are theirs, and none has a change to complete.
      if (input.type !== 'scim.request' || !input.requestId || READS.has(input.payload?.method as string)) continue;
      const key = matchKey(input.tenantId ?? null, input.requestId, input.actor ?? 'system', input.payload?.method, input.payload?.path);
      const list = this.waiting.get(key);
      if (list) list.push(input);
      else this.waiting.set(key, [input]);
    }
  }

  /** The payload text of `row` completed by its request's event (which is then used up), or undefined. */
  complete(row: PendingEventRow): string | undefined {
    if (this.waiting.size === 0 || row.type !== 'directory.change' || typeof row.request_id !== 'string') return undefined;
    const payload = JSON.parse(row.payload as string) as Record<string, unknown> & { request?: RequestPart };
    const request = payload.request;
    if (!request || request.status !== undefined) return undefined;
    const key = matchKey(row.tenant_id as string | null, row.request_id, row.actor as string, request.method, request.path);
    const input = this.waiting.get(key)?.shift();
    if (!input) return undefined;
    this.used.add(input);
    return secretFreeJson({ ...payload, request: { ...request, ...input.payload } });
  }

  /** The inputs no pending change took, in their order. */
  remaining(inputs: readonly AuditEventInput[]): readonly AuditEventInput[] {
    return this.used.size === 0 ? inputs : inputs.filter((input) => !this.used.has(input));
  }
}

function matchKey(tenantId: string | null, requestId: string, actor: string, method: unknown, path: unknown): string {
  return JSON.stringify([tenantId, requestId, actor, method, path]);
}
