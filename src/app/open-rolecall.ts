import { adminEvent } from '../audit/audit-events.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { JwtVerifier } from '../auth/jwt-verifier.ts';
import { TokenService } from '../auth/token-service.ts';
import type { ChangeSink, Database } from '../directory/database.ts';
import { KyselyResourceStore } from '../directory/kysely-resource-store.ts';
import { TOKEN_CHANGES_CHANNEL } from '../directory/directory-migrations.ts';
import { KyselyTenantRepository } from '../directory/kysely-tenant-repository.ts';
import { openDatabase } from '../directory/open-database.ts';
import { NotificationListener } from '../directory/postgres/notification-listener.ts';
import type { TenantRepository } from '../domain/tenancy.ts';
import { ResourceEndpoint } from '../scim/resource-endpoint.ts';
import { ScimDispatcher } from '../scim/scim-dispatcher.ts';
import { GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE } from '../scim/schema/resource-types.ts';
import type { ServerConfig } from './config.ts';
import { allMigrations } from './migrations.ts';

/** The wired core: store, tenancy, SCIM. Provisioning and audit attach to it in start-server.ts. */
export interface Rolecall {
  config: ServerConfig;
  database: Database;
  tenants: TenantRepository;
  tokens: TokenService;
  store: KyselyResourceStore;
  dispatcher: ScimDispatcher;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Change sinks (outbox, audit) run inside every SCIM write transaction. */
  sinks?: ChangeSink[];
  /** A server owns the embedded store exclusively; CLI tools share it (SQLite WAL is multi-process safe). */
  exclusive: boolean;
  /** Runs once the database is open and before anything writes (to add sinks that need it). */
  onOpen?: (database: Database) => void;
}

export async function openRolecall(config: ServerConfig, options: OpenOptions): Promise<Rolecall> {
  const database = await openDatabase({
    store: config.store,
    dataDir: config.dataDir,
    migrations: allMigrations,
    exclusive: options.exclusive,
  });
  options.onOpen?.(database);
  // A server on PostgreSQL hears of token changes by other instances and the CLI, and so can
  // remember lookups (one round trip less per request); a CLI tool reads every time.
  const tokenChanges = database.dialect === 'postgres' && options.exclusive ? new NotificationListener(config.store, TOKEN_CHANGES_CHANNEL) : undefined;
  await tokenChanges?.start();
  const tenants = new KyselyTenantRepository(database, tokenChanges);
  const tokens = new TokenService(tenants, new JwtVerifier(tenants));
  const store = new KyselyResourceStore(database, options.sinks ?? []);
  const paging = { defaultCount: config.pageDefault, maxCount: config.pageMax };
  const dispatcher = new ScimDispatcher(
    new ResourceEndpoint(USER_RESOURCE_TYPE, store, paging),
    new ResourceEndpoint(GROUP_RESOURCE_TYPE, store, paging),
    store,
    { paging, bulk: { maxOperations: config.bulkMaxOperations, maxPayloadSize: config.maxBodyBytes } },
  );
  const close = async () => {
    await tokenChanges?.close();
    await database.close();
  };
  return { config, database, tenants, tokens, store, dispatcher, close };
}

/** On first start with an empty store: a tenant `default` and its first token (shown once). */
export async function ensureDefaultTenant(app: Rolecall): Promise<{ secret: string } | undefined> {
  if ((await app.tenants.countTenants()) > 0) return undefined;
  const tenant = await app.tenants.createTenant({ name: 'default' });
  const { secret, token } = await app.tokens.create(tenant.id, 'first-start', null);
  await new AuditLog(app.database).append(app.database.db, adminEvent('admin.token.created', { actor: 'system', tenantId: tenant.id, details: { tokenId: token.id, name: token.name } }));
  return { secret };
}
