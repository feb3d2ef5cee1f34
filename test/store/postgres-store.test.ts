import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import { directoryMigrations } from '../../src/directory/directory-migrations.ts';
import { dialectSql } from '../../src/directory/dialect-sql.ts';
import { compileFilter } from '../../src/directory/filter-sql.ts';
import { openDatabase } from '../../src/directory/open-database.ts';
import { parseFilter } from '../../src/scim/filter/parse-filter.ts';
import { USER_RESOURCE_TYPE } from '../../src/scim/schema/resource-types.ts';
import { needPostgres, postgresDown, scratchPostgresDatabase } from '../support/services.ts';
import { runStoreContract } from './store-contract.ts';

const openScratch = async () => {
  const scratch = await scratchPostgresDatabase('rolecall_store');
  const database = await openDatabase({ store: scratch.url, dataDir: '', migrations: [directoryMigrations] });
  return {
    database,
    cleanup: async () => {
      await database.close();
      await scratch.drop();
    },
  };
};

describe('postgres', async () => {
  // The contract cases are registered only when the server answers; needPostgres below makes
  // its absence loud (a skip locally, a failure under CI).
  it('PostgreSQL is reachable', async (t) => {
    await needPostgres(t);
  });
  if ((await postgresDown()) !== null) return;

  runStoreContract('postgres', openScratch);

  it('several instances opening one database at once migrate it exactly once', async () => {
    const scratch = await scratchPostgresDatabase('rolecall_migrate');
    try {
      const opened = await Promise.all(
        Array.from({ length: 5 }, () => openDatabase({ store: scratch.url, dataDir: '', migrations: [directoryMigrations] })),
      );
      const rows = await opened[0]!.db.selectFrom('kysely_migration').select('name').orderBy('name').execute();
      assert.deepEqual(
        rows.map((r) => r.name),
        ['0001-tenancy', '0002-directory'],
      );
      await Promise.all(opened.map((d) => d.close()));
    } finally {
      await scratch.drop();
    }
  });

  it('userName eq / sw and externalId eq can use their indexes (collations match)', async () => {
    const { database, cleanup } = await openScratch();
    try {
      await database.db.connection().execute(async (conn) => {
        // Enough rows and fresh statistics for the planner to prefer selective indexes; a collation
        // or function mismatch would leave it no index to choose.
        await sql`INSERT INTO users
          SELECT 't', md5(n::text), 'user' || n, 'user' || n, 'ext' || n, NULL, TRUE, '{}'::jsonb, 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'
          FROM generate_series(1, 5000) AS n`.execute(conn);
        await sql`ANALYZE users`.execute(conn);
        for (const [filter, index] of [
          ['userName eq "Alice"', 'users_tenant_user_name_lc'],
          ['userName sw "ali"', 'users_tenant_user_name_lc'],
          ['externalId eq "x"', 'users_tenant_external_id'],
        ] as const) {
          const q = conn
            .selectFrom('users as r')
            .selectAll()
            .where('r.tenant_id', '=', 't')
            .where(compileFilter(parseFilter(filter), USER_RESOURCE_TYPE, 'User', dialectSql('postgres')))
            .orderBy('r.id')
            .limit(100)
            .compile();
          const { rows } = await conn.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`EXPLAIN ${q.sql}`, [...q.parameters]));
          const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
          assert.match(plan, new RegExp(`Index (Only )?Scan using ${index}`), `${filter}:\n${plan}`);
          assert.match(plan, /Index Cond: .*user_name_lc|Index Cond: .*external_id/, `${filter}:\n${plan}`);
        }
      });
    } finally {
      await cleanup();
    }
  });
});
