import { Hono } from 'hono';
import { scimRoutes, type ScimRoutesOptions } from './scim-routes.ts';

export interface HttpAppOptions {
  scim: ScimRoutesOptions;
  /** Resolves when the store answers and migrations are done. */
  ready: () => Promise<boolean>;
  metrics?: () => Promise<{ contentType: string; body: string }>;
  admin?: Hono;
}

/** The whole HTTP surface: SCIM, health, metrics, admin. Only translation, no logic. */
export function httpApp(options: HttpAppOptions): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const ok = await options.ready().catch(() => false);
    return c.json({ status: ok ? 'ready' : 'not ready' }, ok ? 200 : 503);
  });
  if (options.metrics) {
    const metrics = options.metrics;
    app.get('/metrics', async () => {
      const { contentType, body } = await metrics();
      return new Response(body, { headers: { 'content-type': contentType } });
    });
  }
  if (options.admin) app.route('/admin', options.admin);
  app.route(options.scim.basePath, scimRoutes(options.scim));
  app.notFound((c) => c.json({ error: `No such endpoint: ${c.req.path}. SCIM lives under ${options.scim.basePath}` }, 404));
  return app;
}
