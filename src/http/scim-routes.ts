import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { TokenService } from '../auth/token-service.ts';
import type { RequestContext } from '../domain/directory-change.ts';
import { errorResponse, isUnexpected, reportToStderr, serializeBody, type ScimResponse } from '../scim/messages.ts';
import type { ScimDispatcher } from '../scim/scim-dispatcher.ts';
import { readJsonBody } from './read-json-body.ts';
import { requestView } from './request-view.ts';

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

export interface ScimRoutesOptions {
  dispatcher: ScimDispatcher;
  tokens: TokenService;
  /** Mount point, e.g. /scim/v2. */
  basePath: string;
  /** Largest accepted body in bytes (also the advertised bulk maxPayloadSize). */
  maxBodyBytes: number;
  /** Public base URL override; default: derived from the request. */
  publicUrl?: string;
  /** Receives unforeseen errors raised outside the dispatcher (auth store, body reading); default: stderr. */
  onUnexpectedError?: (error: unknown, where: string) => void;
  /** Observes each finished request (audit, metrics). */
  onRequest?: (event: ScimRequestEvent) => void | Promise<void>;
}

export interface ScimRequestEvent {
  requestId: string;
  tenantId: string | null;
  tokenId: string | null;
  clientAddress: string | null;
  method: string;
  path: string;
  status: number;
  body: unknown;
  resourceId: string | null;
  durationMs: number;
  /** A write of this request committed a change, whose audit event also records the request. */
  changed: boolean;
}

/** Translates HTTP to SCIM requests and SCIM responses back to HTTP; no protocol logic here. */
export function scimRoutes(options: ScimRoutesOptions): Hono {
  const app = new Hono();
  app.all('*', async (c) => {
    const started = performance.now();
    const request = requestView(c);
    const requestId = requestIdOf(request.header('x-request-id'));
    const url = new URL(c.req.url);
    const path = url.pathname.slice(options.basePath.length) || '/';
    const clientAddress = clientOf(c);
    let tenantId: string | null = null;
    let tokenId: string | null = null;
    let body: unknown;
    let context: RequestContext | undefined;
    let response: ScimResponse;
    try {
      const principal = await options.tokens.authenticate(request.header('authorization'));
      tenantId = principal.tenantId;
      tokenId = principal.tokenId;
      const method = c.req.method.toUpperCase();
      body = method === 'GET' || method === 'DELETE' || method === 'HEAD' ? undefined : await readJsonBody(request, options.maxBodyBytes);
      context = { requestId, tenantId, tokenId, clientAddress, method: c.req.method, path, body };
      response = await options.dispatcher.handle({
        method: c.req.method.toUpperCase(),
        path,
        query: Object.fromEntries(url.searchParams),
        body,
        call: {
          tenantId,
          baseUrl: (options.publicUrl ?? `${url.protocol}//${url.host}`) + options.basePath,
          context,
          ...optional('ifMatch', request.header('if-match')),
          ...optional('ifNoneMatch', request.header('if-none-match')),
        },
      });
    } catch (error) {
      if (isUnexpected(error)) (options.onUnexpectedError ?? reportToStderr)(error, `${c.req.method} ${path}`);
      response = errorResponse(error);
    }
    if (options.onRequest) {
      await options.onRequest({
        requestId, tenantId, tokenId, clientAddress, method: c.req.method, path,
        status: response.status, body, resourceId: resourceIdOf(response, path),
        durationMs: performance.now() - started, changed: context?.changed === true,
      });
    }
    return send(c, response, requestId);
  });
  return app;
}

function send(c: Context, response: ScimResponse, requestId: string): Response {
  const headers: Record<string, string> = { 'x-request-id': requestId };
  if (response.etag) headers.etag = response.etag;
  if (response.location) headers.location = response.location;
  if (response.status === 401) headers['www-authenticate'] = 'Bearer realm="rolecall"';
  if (response.body === undefined) return new Response(null, { status: response.status, headers });
  headers['content-type'] = SCIM_CONTENT_TYPE;
  return new Response(serializeBody(response.body), { status: response.status, headers });
}

/**
 * A client's X-Request-Id is kept for correlation only when it looks like an id: it is echoed in
 * a response header and written to logs and the audit trail, so anything else (spaces, markup,
 * kilobytes) is replaced by a fresh UUID.
 */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestIdOf(header: string | undefined): string {
  return header !== undefined && REQUEST_ID.test(header) ? header : randomUUID();
}

function clientOf(c: Context): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

function resourceIdOf(response: ScimResponse, path: string): string | null {
  const id = response.body?.id;
  if (typeof id === 'string') return id;
  const segments = path.split('/').filter(Boolean);
  if (segments.length !== 2 || segments[1] === '.search') return null;
  try {
    return decodeURIComponent(segments[1]!);
  } catch {
    // Malformed percent-encoding: the dispatcher answered 400; there is no resource to name.
    return null;
  }
}

const optional = <K extends string>(key: K, value: string | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, string>>;
