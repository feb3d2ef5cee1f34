import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { sql } from 'kysely';
import pino, { type Logger } from 'pino';
import { scimRequestEvent } from '../audit/audit-events.ts';
import { AuditBuffer } from '../audit/audit-buffer.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { AuditSink } from '../audit/audit-sink.ts';
import type { ChangeSink } from '../directory/database.ts';
import { adminRoutes } from '../http/admin-routes.ts';
import { httpApp } from '../http/http-app.ts';
import type { ScimRequestEvent } from '../http/scim-routes.ts';
import { adminOperations } from './admin-operations.ts';
import type { ServerConfig } from './config.ts';
import { Metrics } from './metrics.ts';
import { ensureDefaultTenant, openRolecall, type Rolecall } from './open-rolecall.ts';
import { PolicyHolder, ProvisioningRuntime } from './provisioning-runtime.ts';

export const SCIM_BASE_PATH = '/scim/v2';

export interface RunningServer {
  app: Rolecall;
  url: string;
  scimUrl: string;
  logger: Logger;
  metrics: Metrics;
  audit: AuditLog | undefined;
  provisioning: ProvisioningRuntime | undefined;
  /** Re-reads the policy file (SIGHUP, admin API). */
  reload(): Promise<unknown>;
  close(): Promise<void>;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Secrets never reach the logs: header, body and connection fields are censored by name. */
export function createLogger(level: ServerConfig['logLevel']): Logger {
  return pino({
    level,
    redact: { paths: ['authorization', '*.authorization', 'password', '*.password', 'token', '*.token', 'secret', '*.secret', 'url', '*.url'], censor: '[redacted]' },
  });
}

/** Opens the store, attaches audit and provisioning, prints the first-start token, and serves HTTP(S). */
export async function startServer(config: ServerConfig, log: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  const holder = new PolicyHolder();
  const sinks: ChangeSink[] = [ProvisioningRuntime.outboxSink(holder)];
  let audit: AuditLog | undefined;
  // SCIM request lines, provisioning steps and reconcile findings are group-committed (AuditBuffer);
  // a directory change's event commits inside the change's own transaction (AuditSink), and the
  // buffer's flushes chain those too.
  let events: AuditBuffer | undefined;
  const app = await openRolecall(config, {
    exclusive: true,
    sinks,
    // The audit sink needs the opened database; it is appended before the first write can run.
    onOpen: (database) => {
      if (!config.audit) return;
      audit = new AuditLog(database, config.auditRetentionDays > 0 ? { retentionDays: config.auditRetentionDays } : {});
      events = new AuditBuffer(audit, database.db, { onError: (error, lost) => logger.error({ err: error, lost }, 'audit write failed') });
      sinks.push(new AuditSink(audit, () => events!.sealSoon()));
    },
  });
  // Pending events a killed predecessor committed but did not chain.
  await audit?.seal();
  const first = await ensureDefaultTenant(app);
  let provisioning: ProvisioningRuntime | undefined;
  try {
    if (config.policy) {
      provisioning = await ProvisioningRuntime.start({
        database: app.database, tenants: app.tenants, policyFile: config.policy, holder, logger,
        ...(events ? { events } : {}), reconcileIntervalSeconds: config.reconcileInterval, background: true,
      });
    }
  } catch (error) {
    await app.close();
    throw error;
  }
  const metrics = new Metrics(provisioning ? () => provisioning!.queue.countsByTarget() : undefined);
  provisioning?.attachMetrics(metrics);

  const onRequest = async (e: ScimRequestEvent) => {
    metrics.observeRequest(e.method, e.path, e.status, e.durationMs);
    if (provisioning && WRITES.has(e.method) && e.status < 400) provisioning.notify();
    logger.info({ requestId: e.requestId, tenantId: e.tenantId, tokenId: e.tokenId, method: e.method, path: e.path, status: e.status, ms: Math.round(e.durationMs * 10) / 10 }, 'scim request');
    // A write that changed the directory is already recorded by its changes' events (AuditSink).
    if (events && !e.changed) {
      const context = { requestId: e.requestId, tenantId: e.tenantId ?? '', tokenId: e.tokenId, clientAddress: e.clientAddress, method: e.method, path: e.path };
      events.add(scimRequestEvent(context, {
        status: e.status, durationMs: Math.round(e.durationMs * 10) / 10,
        ...(e.resourceId ? { resourceIds: [e.resourceId] } : {}),
        ...(e.body === undefined ? {} : { body: e.body }),
      }));
    }
  };

  const reload = async () => {
    if (!provisioning) throw new Error('no --policy was given at start');
    const result = await provisioning.reload();
    if (audit) await audit.append(app.database.db, { type: 'admin.policy.reloaded', actor: 'system', payload: { file: config.policy, ...result } });
    logger.info(result, 'policy reloaded');
    return result;
  };

  const fetch = httpApp({
    scim: {
      dispatcher: app.dispatcher,
      tokens: app.tokens,
      basePath: SCIM_BASE_PATH,
      maxBodyBytes: config.maxBodyBytes,
      ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
      onRequest,
    },
    ready: async () => {
      await sql`select 1`.execute(app.database.db);
      return true;
    },
    metrics: () => metrics.render(),
    ...(config.adminToken ? { admin: adminRoutes(config.adminToken, adminOperations({ app, audit, provisioning, reload })) } : {}),
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
  if (provisioning) log(`Provisioning ${holder.current.targets.length} target(s) from ${config.policy}`);
  if (first) {
    log('First start: created tenant "default". Its bearer token is shown ONCE; store it now:');
    log(`  ${first.secret}`);
  }
  return {
    app, url, scimUrl, logger, metrics, audit, provisioning, reload,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await provisioning?.stop();
      await events?.flush();
      await app.close();
    },
  };
}
