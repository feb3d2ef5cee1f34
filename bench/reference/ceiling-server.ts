/** The HTTP ceiling: a bare Hono route returning a fixed JSON body of a given size. Bench-only. */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const size = Number(process.env.BODY_BYTES ?? 1000);
const body = JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], padding: 'x'.repeat(Math.max(0, size - 90)) });
const app = new Hono();
app.all('*', () => new Response(body, { headers: { 'content-type': 'application/scim+json; charset=utf-8' } }));
const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`LISTENING ${info.port}\n`);
});
process.once('SIGTERM', () => server.close());
