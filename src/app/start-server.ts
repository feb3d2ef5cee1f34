import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import pino, { type Logger } from 'pino';
import { sql } from 'kysely';
import { httpApp } from '../http/http-app.ts';
import type { ServerConfig } from './config.ts';
import { ensureDefaultTenant, openRolecall, type Rolecall } from './open-rolecall.ts';

export const SCIM_BASE_PATH = '/scim/v2';

export interface RunningServer {
  app: Rolecall;
  url: string;
  scimUrl: string;
  logger: Logger;
  close(): Promise<void>;
}

/** Opens the store, prints the first-start token, and serves HTTP(S). */
export async function startServer(config: ServerConfig, log: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<RunningServer> {
  const logger = pino({ level: config.logLevel, redact: { paths: ['*.authorization', '*.password', '*.token', '*.secret'], censor: '[redacted]' } });
  const app = await openRolecall(config, { exclusive: true });
  const first = await ensureDefaultTenant(app);

  const fetch = httpApp({
    scim: {
      dispatcher: app.dispatcher,
      tokens: app.tokens,
      basePath: SCIM_BASE_PATH,
      maxBodyBytes: config.maxBodyBytes,
      ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
      onRequest: (e) => {
        logger.info({ requestId: e.requestId, tenantId: e.tenantId, tokenId: e.tokenId, method: e.method, path: e.path, status: e.status, ms: Math.round(e.durationMs * 10) / 10 }, 'scim request');
      },
    },
    ready: async () => {
      await sql`select 1`.execute(app.database.db);
      return true;
    },
  }).fetch;

  const server: ServerType = await new Promise((resolve) => {
    const s = serve(
      {
        fetch,
        port: config.port,
        hostname: config.host,
        ...(config.tlsCert && config.tlsKey
          ? { createServer: createHttpsServer, serverOptions: { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) } }
          : {}),
      },
      () => resolve(s),
    );
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = config.tlsCert ? 'https' : 'http';
  const url = config.publicUrl ?? `${scheme}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const scimUrl = `${url}${SCIM_BASE_PATH}`;
  log(`Rolecall listening on ${url} (store: ${app.database.dialect === 'sqlite' ? `embedded, ${config.dataDir}` : 'postgres'})`);
  log(`SCIM base URL (Tenant URL in Entra, SCIM connector base URL in Okta): ${scimUrl}`);
  if (first) {
    log('First start: created tenant "default". Its bearer token is shown ONCE; store it now:');
    log(`  ${first.secret}`);
  }
  return {
    app,
    url,
    scimUrl,
    logger,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.close();
    },
  };
}
