import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { directoryMigrations } from '../../src/directory/directory-migrations.ts';
import { dialectSql } from '../../src/directory/dialect-sql.ts';
import { compileFilter } from '../../src/directory/filter-sql.ts';
import { KyselyResourceStore } from '../../src/directory/kysely-resource-store.ts';
import { openDatabase } from '../../src/directory/open-database.ts';
import { parseFilter } from '../../src/scim/filter/parse-filter.ts';
import { GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE } from '../../src/scim/schema/resource-types.ts';
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
        ['0001-tenancy', '0002-directory', '0003-resource-counts', '0004-token-changes'],
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

  it('kept counts follow every insert and delete (store, raw SQL, concurrent connections) and count rows that predate them', async () => {
    const scratch = await scratchPostgresDatabase('rolecall_counts');
    const without: typeof directoryMigrations = (dialect) => {
      const all = directoryMigrations(dialect);
      return { '0001-tenancy': all['0001-tenancy']!, '0002-directory': all['0002-directory']! };
    };
    const userRow = (tenant: string, n: number) => sql`(${tenant}, ${`u-${tenant}-${n}`}, ${`user${n}`}, ${`user${n}`}, NULL, NULL, TRUE, '{}'::jsonb, 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`;
    const insertUsers = (db: Kysely<any>, tenant: string, from: number, to: number) =>
      sql`INSERT INTO users VALUES ${sql.join(Array.from({ length: to - from }, (_, i) => userRow(tenant, from + i)))}`.execute(db);
    try {
      // Rows written before the counts existed: the migration counts them.
      const old = await openDatabase({ store: scratch.url, dataDir: '', migrations: [without] });
      await insertUsers(old.db, 'a', 0, 300);
      await insertUsers(old.db, 'b', 0, 7);
      await old.close();

      const database = await openDatabase({ store: scratch.url, dataDir: '', migrations: [directoryMigrations] });
      try {
        const store = new KyselyResourceStore(database, []);
        const total = async (tenant: string, kind: 'User' | 'Group' = 'User') =>
          (await store.list(kind, tenant, { startIndex: 1, count: 0, schema: kind === 'User' ? USER_RESOURCE_TYPE : GROUP_RESOURCE_TYPE })).totalResults;
        const counted = async (tenant: string, table: 'users' | 'groups' = 'users') =>
          Number((await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table)} WHERE tenant_id = ${tenant}`.execute(database.db)).rows[0]!.n);
        assert.deepEqual([await total('a'), await total('b'), await total('nobody')], [300, 7, 0]);

        // Concurrent multi-row inserts and deletes on several connections, then through the store.
        await Promise.all(Array.from({ length: 8 }, (_, w) => insertUsers(database.db, 'a', 1000 + w * 50, 1050 + w * 50)));
        // Four connections delete ten distinct users each.
        await Promise.all(Array.from({ length: 4 }, (_, w) =>
          sql`DELETE FROM users WHERE tenant_id = 'a' AND id IN (${sql.join(Array.from({ length: 10 }, (_, i) => `u-a-${w * 10 + i}`))})`.execute(database.db)));
        const context = { requestId: 'r', tenantId: 'b', tokenId: null, clientAddress: null, method: 'POST', path: '/Users' };
        const created = await store.write(context, (w) => w.insert('User', 'b', { id: randomUUID(), data: { userName: 'ada' } }));
        await store.write(context, (w) => w.insert('Group', 'b', { id: randomUUID(), data: { displayName: 'Ops' } }));
        await store.write(context, (w) => w.remove('User', 'b', 'u-b-0'));
        // A rolled-back insert leaves the count alone.
        await assert.rejects(store.write(context, async (w) => {
          await w.insert('User', 'b', { id: randomUUID(), data: { userName: 'bob' } });
          throw new Error('rolled back');
        }));
        assert.deepEqual([await total('a'), await counted('a')], [300 + 400 - 40, 300 + 400 - 40]);
        assert.deepEqual([await total('b'), await counted('b')], [7, 7]);
        assert.deepEqual([await total('b', 'Group'), await counted('b', 'groups')], [1, 1]);
        assert.ok(created.id);
        // A filtered list still counts its matches.
        const filtered = await store.list('User', 'a', { startIndex: 1, count: 0, schema: USER_RESOURCE_TYPE, filter: parseFilter('userName sw "user1"') });
        assert.equal(filtered.totalResults, Number((await sql<{ n: string }>`SELECT count(*) AS n FROM users WHERE tenant_id = 'a' AND user_name LIKE 'user1%'`.execute(database.db)).rows[0]!.n));
      } finally {
        await database.close();
      }
    } finally {
      await scratch.drop();
    }
  });
});
