import { AuditBuffer } from '../audit/audit-buffer.ts';
import { AuditLog } from '../audit/audit-log.ts';
import type { ServerConfig } from '../app/config.ts';
import { adminOperations } from '../app/admin-operations.ts';
import { openRolecall, type Rolecall } from '../app/open-rolecall.ts';
import { PolicyHolder, ProvisioningRuntime } from '../app/provisioning-runtime.ts';
import { createLogger } from '../app/start-server.ts';
import { RolecallError } from '../domain/errors.ts';
import type { AdminOperations } from '../http/admin-routes.ts';
import { parseFilter } from '../scim/filter/parse-filter.ts';
import { USER_RESOURCE_TYPE } from '../scim/schema/resource-types.ts';
import { configFrom } from './store-options.ts';

export interface Engine {
  app: Rolecall;
  audit: AuditLog;
  ops: AdminOperations;
  config: ServerConfig;
  /** A user id, or a userName looked up in every tenant. */
  resolveUser(userIdOrName: string | undefined): Promise<string | undefined>;
}

/**
 * The store, audit log and (with a policy) the provisioning engine, opened for one CLI command
 * beside a possibly running server: no workers, no schedule, the embedded store shared.
 */
export async function withEngine<T>(options: Record<string, unknown>, needPolicy: boolean, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const config = { ...configFrom(options), ...(typeof options.policy === 'string' ? { policy: options.policy } : {}) };
  if (needPolicy && !config.policy) throw new RolecallError('reject', 'this command needs the access policy: --policy FILE (or ROLECALL_POLICY)');
  const app = await openRolecall(config, { exclusive: false });
  const audit = new AuditLog(app.database);
  const logger = createLogger('warn');
  let provisioning: ProvisioningRuntime | undefined;
  try {
    if (config.policy) {
      provisioning = await ProvisioningRuntime.start({
        database: app.database, tenants: app.tenants, policyFile: config.policy, holder: new PolicyHolder(),
        logger, events: new AuditBuffer(audit, app.database.db, { onError: (error, lost) => logger.error({ err: error, lost }, 'audit write failed') }),
        reconcileIntervalSeconds: 0, background: false,
      });
    }
    const ops = adminOperations({ app, audit, provisioning, reload: async () => provisioning?.reload() });
    const resolveUser = async (value: string | undefined) => {
      if (value === undefined) return undefined;
      for (const tenant of await app.tenants.listTenants()) {
        if (await app.store.get('User', tenant.id, value)) return value;
        const found = await app.store.list('User', tenant.id, { filter: parseFilter(`userName eq ${JSON.stringify(value)}`), startIndex: 1, count: 1, schema: USER_RESOURCE_TYPE });
        if (found.resources[0]) return found.resources[0].id;
      }
      throw new RolecallError('reject', `no user with id or userName "${value}"`);
    };
    return await fn({ app, audit, ops, config, resolveUser });
  } finally {
    await provisioning?.stop();
    await app.close();
  }
}
