import { ScimError } from '../domain/errors.ts';

/** RFC 7644 message schema URNs. */
export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';

/** What a SCIM operation answers; the HTTP layer only translates it. */
export interface ScimResponse {
  status: number;
  body?: Record<string, unknown>;
  /** Weak ETag of the returned resource (RFC 7644 §3.14). */
  etag?: string;
  /** Absolute URL of a created resource. */
  location?: string;
}

/**
 * A resource already rendered as JSON text (renderResourceText), kept as such inside a body
 * until serializeBody writes it out. JSON.stringify still writes it correctly, by parsing it.
 */
export class JsonText {
  constructor(readonly text: string) {}

  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/** A list page's resource: an object, or one already rendered as text. */
export type ListedResource = Record<string, unknown> | JsonText;

/** A body as JSON text, writing JsonText resources of a ListResponse as they are. */
export function serializeBody(body: Record<string, unknown>): string {
  const resources = body.Resources;
  if (!Array.isArray(resources) || !resources.some((r) => r instanceof JsonText)) return JSON.stringify(body);
  const envelope = JSON.stringify({ ...body, Resources: undefined });
  const items = resources.map((r) => (r instanceof JsonText ? r.text : JSON.stringify(r)));
  return `${envelope.slice(0, -1)},"Resources":[${items.join(',')}]}`;
}

/** RFC 7644 §3.4.2 ListResponse; integers are JSON numbers (Okta checks). */
export function listResponse(totalResults: number, startIndex: number, resources: ListedResource[]): Record<string, unknown> {
  return {
    schemas: [LIST_RESPONSE],
    totalResults,
    startIndex,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}

/** The one mapping from any error to an RFC 7644 §3.12 error body (status is a string). */
export function errorResponse(error: unknown): ScimResponse & { body: Record<string, unknown> } {
  const scim = error instanceof ScimError ? error : undefined;
  const status = scim?.status ?? 500;
  const body: Record<string, unknown> = {
    schemas: [ERROR],
    status: String(status),
    detail: scim ? scim.message : 'Internal error; the request was not applied. Retry later.',
  };
  if (scim?.scimType) body.scimType = scim.scimType;
  return { status, body };
}

/**
 * Default report of an error that became a 500: the client only sees a generic detail, so the
 * cause must reach the operator. One line with the stack on stderr; the app may pass its logger.
 */
export function reportToStderr(error: unknown, where: string): void {
  const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  process.stderr.write(`rolecall: unexpected error in ${where}: ${text}\n`);
}

/** True for errors that are not the client's fault and were not foreseen (they answer 500). */
export const isUnexpected = (error: unknown): boolean => !(error instanceof ScimError);
