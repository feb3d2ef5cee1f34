import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { notFound, RolecallError } from '../domain/errors.ts';
import type { ApiToken, Tenant, TenantRepository } from '../domain/tenancy.ts';
import type { Database } from './database.ts';
import { dialectSql, type DialectSql } from './dialect-sql.ts';
import { QueryTemplate } from './query-template.ts';
import { sqliteDataVersion, VersionedMap } from './read-cache.ts';

interface TenantRow {
  id: string;
  name: string;
  created_at: string;
  jwt_issuer: string | null;
  jwt_audience: string | null;
  jwks: string | null;
}

interface TokenRow {
  id: string;
  tenant_id: string;
  name: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

const TOKEN_COLUMNS = ['id', 'tenant_id', 'name', 'created_at', 'expires_at', 'revoked_at', 'last_used_at'] as const;

const toTenant = (row: TenantRow): Tenant => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at,
  jwtIssuer: row.jwt_issuer,
  jwtAudience: row.jwt_audience,
  jwks: row.jwks,
});

const toToken = (row: TokenRow): ApiToken => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at,
});

/**
 * Tells a PostgreSQL store's token cache when `api_tokens` may have changed elsewhere: a version
 * that changes whenever it may have, or undefined while that cannot be vouched for.
 */
export interface TokenChanges {
  version(): string | undefined;
}

/** Tenants and API tokens in the store's tenants / api_tokens tables. Hashes are never returned. */
export class KyselyTenantRepository implements TenantRepository {
  readonly #db: Kysely<any>;
  /** Every SCIM request looks its token up: the query is compiled once. */
  readonly #tokenByHash: QueryTemplate<[string]>;
  readonly #d: DialectSql;
  /**
   * Token lookups, remembered while no other connection can have changed a token and this
   * repository has written none (#tokenWrites). Every write to api_tokens in this process goes
   * through this repository (one per opened store, see openRolecall), so a token revoked here is
   * refused at once; expiry is checked against the clock on every request by the caller. What
   * tells of other connections' writes: on the embedded store its data_version (any commit of
   * another connection, such as `rolecall token revoke`); on PostgreSQL `tokenChanges`, whose
   * version follows the notifications the api_tokens trigger sends at each commit (migration
   * 0004). Without `tokenChanges`, or while it cannot vouch, every PostgreSQL lookup reads.
   */
  readonly #tokens: VersionedMap<TokenRow | null> | undefined;
  readonly #otherWrites: () => Promise<string | number | undefined>;
  /** Bumped after each token write of this process: SQLite's data_version does not see them. */
  #tokenWrites = 0;

  constructor(database: Database, tokenChanges?: TokenChanges) {
    this.#db = database.db;
    const cached = database.dialect === 'sqlite' || tokenChanges !== undefined;
    this.#tokens = cached ? new VersionedMap() : undefined;
    this.#otherWrites = database.dialect === 'sqlite' ? () => sqliteDataVersion(this.#db) : async () => tokenChanges?.version();
    this.#tokenByHash = new QueryTemplate(database.db, 1, (db, hash) => db.selectFrom('api_tokens').select(TOKEN_COLUMNS).where('hash', '=', hash));
    this.#d = dialectSql(database.dialect);
  }

  /** A duplicate tenant name or token hash is a conflict the caller can explain, not a driver error. */
  #conflict(what: string, error: unknown): never {
    if (this.#d.uniqueViolation(error) === undefined) throw error;
    throw new RolecallError('conflict', `${what} already exists`, { cause: error });
  }

  async createTenant(input: { name: string; jwtIssuer?: string | null; jwtAudience?: string | null; jwks?: string | null }): Promise<Tenant> {
    const row: TenantRow = {
      id: randomUUID(),
      name: input.name,
      created_at: new Date().toISOString(),
      jwt_issuer: input.jwtIssuer ?? null,
      jwt_audience: input.jwtAudience ?? null,
      jwks: input.jwks ?? null,
    };
    await this.#db
      .insertInto('tenants')
      .values(row)
      .execute()
      .catch((error: unknown) => this.#conflict(`a tenant named "${input.name}"`, error));
    return toTenant(row);
  }

  async updateTenant(id: string, patch: { jwtIssuer?: string | null; jwtAudience?: string | null; jwks?: string | null }): Promise<Tenant> {
    // Only the keys present in `patch` change; an explicit null clears a setting.
    const set: Partial<TenantRow> = {
      ...(patch.jwtIssuer !== undefined && { jwt_issuer: patch.jwtIssuer }),
      ...(patch.jwtAudience !== undefined && { jwt_audience: patch.jwtAudience }),
      ...(patch.jwks !== undefined && { jwks: patch.jwks }),
    };
    if (Object.keys(set).length > 0) await this.#db.updateTable('tenants').set(set).where('id', '=', id).execute();
    const tenant = await this.getTenant(id);
    if (!tenant) throw notFound(`tenant ${id} not found`);
    return tenant;
  }

  async getTenant(id: string): Promise<Tenant | undefined> {
    const row = await this.#db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toTenant(row as TenantRow);
  }

  async getTenantByName(name: string): Promise<Tenant | undefined> {
    const row = await this.#db.selectFrom('tenants').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toTenant(row as TenantRow);
  }

  async listTenants(): Promise<Tenant[]> {
    const rows = await this.#db.selectFrom('tenants').selectAll().orderBy('name').execute();
    return rows.map((row) => toTenant(row as TenantRow));
  }

  async countTenants(): Promise<number> {
    const row = await this.#db.selectFrom('tenants').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async createToken(input: { tenantId: string; name: string; hash: string; expiresAt: string | null }): Promise<ApiToken> {
    const row: TokenRow = {
      id: randomUUID(),
      tenant_id: input.tenantId,
      name: input.name,
      created_at: new Date().toISOString(),
      expires_at: input.expiresAt,
      revoked_at: null,
      last_used_at: null,
    };
    await this.#db
      .insertInto('api_tokens')
      .values({ ...row, hash: input.hash })
      .execute()
      .catch((error: unknown) => this.#conflict('a token with this secret', error))
      .finally(() => (this.#tokenWrites += 1));
    return toToken(row);
  }

  async findTokenByHash(hash: string): Promise<ApiToken | undefined> {
    const tokens = this.#tokens;
    const others = tokens && (await this.#otherWrites());
    const version = others === undefined ? undefined : `${this.#tokenWrites}:${others}`;
    if (tokens && version) {
      tokens.adopt(version);
      const cached = tokens.get(hash);
      if (cached !== undefined) return cached === null ? undefined : toToken(cached);
    }
    const { rows } = await this.#tokenByHash.execute<TokenRow>(this.#db, hash);
    if (tokens && version) tokens.set(version, hash, rows[0] ?? null);
    return rows[0] && toToken(rows[0]);
  }

  async listTokens(tenantId?: string): Promise<ApiToken[]> {
    let query = this.#db.selectFrom('api_tokens').select(TOKEN_COLUMNS);
    if (tenantId !== undefined) query = query.where('tenant_id', '=', tenantId);
    const rows = await query.orderBy('created_at').orderBy('id').execute();
    return rows.map((row) => toToken(row as TokenRow));
  }

  async revokeToken(id: string): Promise<ApiToken | undefined> {
    // Revoking twice keeps the first revocation time.
    await this.#db.updateTable('api_tokens').set({ revoked_at: new Date().toISOString() }).where('id', '=', id).where('revoked_at', 'is', null).execute()
      .finally(() => (this.#tokenWrites += 1));
    const row = await this.#db.selectFrom('api_tokens').select(TOKEN_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row && toToken(row as TokenRow);
  }

  async touchToken(id: string, at: string): Promise<void> {
    await this.#db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute()
      .finally(() => (this.#tokenWrites += 1));
  }
}
