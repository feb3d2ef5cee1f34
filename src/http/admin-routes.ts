import { timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { stream } from 'hono/streaming';
import { RolecallError } from '../domain/errors.ts';

/** What the admin API needs; implemented in src/app. Returns plain data, HTTP only translates. */
export interface AdminOperations {
  listJobs(query: { state?: string; failed?: boolean; target?: string; user?: string; limit?: number }): Promise<unknown[]>;
  retryJob(id: number, actor: string): Promise<boolean>;
  retryAllJobs(actor: string): Promise<number>;
  reloadPolicy(actor: string): Promise<unknown>;
  plan(query: { target?: string; user?: string }): Promise<unknown[]>;
  reconcile(query: { target?: string; user?: string }): Promise<unknown>;
  auditQuery(query: Record<string, string>): Promise<unknown[]>;
  auditExport(query: Record<string, string>, format: 'jsonl' | 'csv', write: (chunk: string) => Promise<void>): Promise<number>;
  auditVerify(): Promise<unknown>;
  access(query: { target?: string; user?: string; at?: string }): Promise<unknown>;
  accessReview(format: 'json' | 'csv'): Promise<string>;
  timeToRevoke(query: { since?: string }): Promise<unknown[]>;
}

/** Status codes for errors by what should happen next (the one mapping for the admin API). */
const STATUS: Record<string, 400 | 409 | 500 | 503> = { reject: 400, conflict: 409, fatal: 500, retry: 503 };

/** /admin/*: a separate bearer token from any tenant's SCIM token. */
export function adminRoutes(adminToken: string, ops: AdminOperations): Hono {
  const app = new Hono();
  const expected = Buffer.from(adminToken);
  app.use('*', async (c, next) => {
    const given = Buffer.from(/^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return c.json({ error: 'admin token required: Authorization: Bearer <admin token>' }, 401, { 'www-authenticate': 'Bearer realm="rolecall-admin"' });
    }
    await next();
  });
  app.onError((error, c) => {
    const disposition = error instanceof RolecallError ? error.disposition : error instanceof RangeError ? 'reject' : 'fatal';
    return c.json({ error: error.message, disposition }, STATUS[disposition] ?? 500);
  });
  const q = (c: Context) => Object.fromEntries(new URL(c.req.url).searchParams) as Record<string, string>;
  const actor = 'admin';

  app.get('/jobs', async (c) => {
    const query = q(c);
    return c.json(await ops.listJobs({
      ...(query.state ? { state: query.state } : {}),
      ...(query.failed === 'true' ? { failed: true } : {}),
      ...(query.target ? { target: query.target } : {}),
      ...(query.user ? { user: query.user } : {}),
      ...(query.limit ? { limit: Number(query.limit) } : {}),
    }));
  });
  app.post('/jobs/retry-all', async (c) => c.json({ requeued: await ops.retryAllJobs(actor) }));
  app.post('/jobs/:id/retry', async (c) => {
    const id = Number(c.req.param('id'));
    if (!Number.isInteger(id)) return c.json({ error: 'job id must be an integer' }, 400);
    return (await ops.retryJob(id, actor)) ? c.json({ requeued: id }) : c.json({ error: `job ${id} is not dead-lettered or does not exist` }, 404);
  });
  app.post('/policy/reload', async (c) => c.json(await ops.reloadPolicy(actor)));
  app.get('/plan', async (c) => c.json(await ops.plan(pick(q(c), 'target', 'user'))));
  app.post('/reconcile', async (c) => c.json(await ops.reconcile(pick(q(c), 'target', 'user'))));
  app.get('/audit', async (c) => {
    const query = q(c);
    const format = query.format;
    if (format === 'jsonl' || format === 'csv') {
      c.header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
      return stream(c, async (s) => {
        await ops.auditExport(query, format, (chunk) => s.write(chunk).then(() => undefined));
      });
    }
    return c.json(await ops.auditQuery(query));
  });
  app.get('/audit/verify', async (c) => c.json(await ops.auditVerify()));
  app.get('/access', async (c) => c.json(await ops.access(pick(q(c), 'target', 'user', 'at'))));
  app.get('/access/review', async (c) => {
    const format = q(c).format === 'csv' ? 'csv' : 'json';
    return c.body(await ops.accessReview(format), 200, { 'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json' });
  });
  app.get('/time-to-revoke', async (c) => c.json(await ops.timeToRevoke(pick(q(c), 'since'))));
  return app;
}

function pick<K extends string>(query: Record<string, string>, ...keys: K[]): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const k of keys) if (query[k]) out[k] = query[k];
  return out;
}
