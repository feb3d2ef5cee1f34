import { sql, type Kysely, type Migration } from 'kysely';
import type { MigrationSet, SqlDialect } from './database.ts';

/**
 * Column types per dialect. Text is COLLATE "C" on PostgreSQL so that equality, ordering and
 * LIKE prefixes behave as SQLite's BINARY does and btree indexes serve `sw` and ORDER BY.
 * Timestamps are ISO-8601 UTC text with millisecond precision (Date#toISOString), so they compare
 * correctly as strings on both stores.
 */
function types(dialect: SqlDialect) {
  const pg = dialect === 'postgres';
  return {
    text: pg ? sql`text COLLATE "C"` : sql`text`,
    json: pg ? sql`jsonb` : sql`text`,
    bool: pg ? sql`boolean` : sql`integer`,
  };
}

const tenancy = (dialect: SqlDialect): Migration => ({
  async up(db: Kysely<any>) {
    const t = types(dialect);
    await db.schema
      .createTable('tenants')
      .addColumn('id', t.text, (c) => c.primaryKey())
      .addColumn('name', t.text, (c) => c.notNull().unique())
      .addColumn('created_at', t.text, (c) => c.notNull())
      .addColumn('jwt_issuer', t.text)
      .addColumn('jwt_audience', t.text)
      .addColumn('jwks', t.text)
      .execute();
    await db.schema
      .createTable('api_tokens')
      .addColumn('id', t.text, (c) => c.primaryKey())
      .addColumn('tenant_id', t.text, (c) => c.notNull().references('tenants.id').onDelete('cascade'))
      .addColumn('name', t.text, (c) => c.notNull())
      .addColumn('hash', t.text, (c) => c.notNull().unique())
      .addColumn('created_at', t.text, (c) => c.notNull())
      .addColumn('expires_at', t.text)
      .addColumn('revoked_at', t.text)
      .addColumn('last_used_at', t.text)
      .execute();
    await db.schema.createIndex('api_tokens_tenant').on('api_tokens').column('tenant_id').execute();
  },
});

/**
 * Users and groups keep the client's JSON in `data` plus the columns filters and uniqueness need,
 * derived from `data` on every write. `*_lc` hold the JavaScript lower-casing, so case-insensitive
 * equality is an index lookup. No foreign key ties users to tenants: tenants may be declared in
 * the policy file instead of this table.
 */
const directory = (dialect: SqlDialect): Migration => ({
  async up(db: Kysely<any>) {
    const t = types(dialect);
    await db.schema
      .createTable('users')
      .addColumn('tenant_id', t.text, (c) => c.notNull())
      .addColumn('id', t.text, (c) => c.notNull())
      .addColumn('user_name', t.text, (c) => c.notNull())
      .addColumn('user_name_lc', t.text, (c) => c.notNull())
      .addColumn('external_id', t.text)
      .addColumn('display_name', t.text)
      .addColumn('active', t.bool, (c) => c.notNull())
      .addColumn('data', t.json, (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created', t.text, (c) => c.notNull())
      .addColumn('last_modified', t.text, (c) => c.notNull())
      .addPrimaryKeyConstraint('users_pk', ['tenant_id', 'id'])
      .addUniqueConstraint('users_tenant_user_name_lc', ['tenant_id', 'user_name_lc'])
      .execute();
    // id is part of the key so that `externalId eq` pages come out of the index already in id order;
    // without it SQLite prefers walking the primary key in id order and filtering every row.
    await db.schema.createIndex('users_tenant_external_id').on('users').columns(['tenant_id', 'external_id', 'id']).execute();

    await db.schema
      .createTable('groups')
      .addColumn('tenant_id', t.text, (c) => c.notNull())
      .addColumn('id', t.text, (c) => c.notNull())
      .addColumn('display_name', t.text, (c) => c.notNull())
      .addColumn('display_name_lc', t.text, (c) => c.notNull())
      .addColumn('external_id', t.text)
      .addColumn('data', t.json, (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created', t.text, (c) => c.notNull())
      .addColumn('last_modified', t.text, (c) => c.notNull())
      .addPrimaryKeyConstraint('groups_pk', ['tenant_id', 'id'])
      .addUniqueConstraint('groups_tenant_display_name_lc', ['tenant_id', 'display_name_lc'])
      .execute();
    await db.schema.createIndex('groups_tenant_external_id').on('groups').columns(['tenant_id', 'external_id', 'id']).execute();

    // Group and member ids are server-generated UUIDs, unique across tenants; tenant_id is kept
    // on every row so that each query still states its tenant.
    await db.schema
      .createTable('group_members')
      .addColumn('tenant_id', t.text, (c) => c.notNull())
      .addColumn('group_id', t.text, (c) => c.notNull())
      .addColumn('member_id', t.text, (c) => c.notNull())
      .addColumn('member_type', t.text, (c) => c.notNull())
      .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'member_id'])
      .execute();
    await db.schema.createIndex('group_members_member').on('group_members').column('member_id').execute();
  },
});

/** What `resource_counts.kind` names, per table. */
const COUNTED = { users: 'User', groups: 'Group' } as const;

/**
 * PostgreSQL only (see DialectSql.keptCounts): per-tenant row counts of users and groups, kept
 * by statement triggers in the same transaction as every insert and delete (cascades and
 * hand-written SQL included), so an unfiltered list's totalResults is a sum of a few rows
 * instead of a COUNT(*) over the tenant. `changes` counts inserts plus deletes and only grows:
 * while its sum stands still, no id was added or removed anywhere (a version for cached page
 * positions). Each connection adds to its own slot (backend pid modulo 64), so concurrent
 * writers do not queue on one counter row until they commit.
 * CREATE TRIGGER locks the table against writes until this migration commits, so the initial
 * counts and the triggers agree.
 */
const resourceCounts = (dialect: SqlDialect): Migration => ({
  async up(db: Kysely<any>) {
    if (dialect !== 'postgres') return;
    await db.schema
      .createTable('resource_counts')
      .addColumn('tenant_id', sql`text COLLATE "C"`, (c) => c.notNull())
      .addColumn('kind', sql`text COLLATE "C"`, (c) => c.notNull())
      .addColumn('slot', 'integer', (c) => c.notNull())
      .addColumn('n', 'bigint', (c) => c.notNull())
      .addColumn('changes', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('resource_counts_pk', ['tenant_id', 'kind', 'slot'])
      .execute();
    // One function for both operations: PL/pgSQL plans a statement when it first runs it, so
    // the branch naming the other operation's transition table is never planned.
    await sql`
      CREATE FUNCTION rolecall_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          INSERT INTO resource_counts (tenant_id, kind, slot, n, changes)
            SELECT tenant_id, TG_ARGV[0], pg_backend_pid() % 64, count(*), count(*) FROM new_rows GROUP BY tenant_id
            ON CONFLICT (tenant_id, kind, slot) DO UPDATE SET n = resource_counts.n + excluded.n, changes = resource_counts.changes + excluded.changes;
        ELSE
          INSERT INTO resource_counts (tenant_id, kind, slot, n, changes)
            SELECT tenant_id, TG_ARGV[0], pg_backend_pid() % 64, -count(*), count(*) FROM old_rows GROUP BY tenant_id
            ON CONFLICT (tenant_id, kind, slot) DO UPDATE SET n = resource_counts.n + excluded.n, changes = resource_counts.changes + excluded.changes;
        END IF;
        RETURN NULL;
      END $$`.execute(db);
    for (const [table, kind] of Object.entries(COUNTED)) {
      await sql`CREATE TRIGGER ${sql.id(`${table}_count_insert`)} AFTER INSERT ON ${sql.table(table)} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rolecall_count_rows(${sql.lit(kind)})`.execute(db);
      await sql`CREATE TRIGGER ${sql.id(`${table}_count_delete`)} AFTER DELETE ON ${sql.table(table)} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rolecall_count_rows(${sql.lit(kind)})`.execute(db);
      await sql`INSERT INTO resource_counts (tenant_id, kind, slot, n, changes) SELECT tenant_id, ${sql.lit(kind)}, 0, count(*), count(*) FROM ${sql.table(table)} GROUP BY tenant_id`.execute(db);
    }
  },
  async down(db: Kysely<any>) {
    if (dialect !== 'postgres') return;
    for (const table of Object.keys(COUNTED)) {
      await sql`DROP TRIGGER ${sql.id(`${table}_count_insert`)} ON ${sql.table(table)}`.execute(db);
      await sql`DROP TRIGGER ${sql.id(`${table}_count_delete`)} ON ${sql.table(table)}`.execute(db);
    }
    await sql`DROP FUNCTION rolecall_count_rows()`.execute(db);
    await db.schema.dropTable('resource_counts').execute();
  },
});

/** The channel on which PostgreSQL announces every committed change of `api_tokens`. */
export const TOKEN_CHANGES_CHANNEL = 'rolecall_api_tokens';

/**
 * PostgreSQL only: a statement trigger announces every committed insert, update, delete or
 * truncate of `api_tokens` (by this or any other instance, the CLI or hand-written SQL) on
 * TOKEN_CHANGES_CHANNEL. PostgreSQL delivers a notification only when its transaction commits,
 * so a server that listens may remember token lookups until the next one (KyselyTenantRepository).
 */
const tokenChanges = (dialect: SqlDialect): Migration => ({
  async up(db: Kysely<any>) {
    if (dialect !== 'postgres') return;
    await sql`
      CREATE FUNCTION rolecall_notify_token_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify(${sql.lit(TOKEN_CHANGES_CHANNEL)}, '');
        RETURN NULL;
      END $$`.execute(db);
    await sql`CREATE TRIGGER api_tokens_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_tokens FOR EACH STATEMENT EXECUTE FUNCTION rolecall_notify_token_change()`.execute(db);
  },
  async down(db: Kysely<any>) {
    if (dialect !== 'postgres') return;
    await sql`DROP TRIGGER api_tokens_notify ON api_tokens`.execute(db);
    await sql`DROP FUNCTION rolecall_notify_token_change()`.execute(db);
  },
});

export const directoryMigrations: MigrationSet = (dialect) => ({
  '0001-tenancy': tenancy(dialect),
  '0002-directory': directory(dialect),
  '0003-resource-counts': resourceCounts(dialect),
  '0004-token-changes': tokenChanges(dialect),
});
