import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { directoryMigrations } from '../../src/directory/directory-migrations.ts';
import { openDatabase } from '../../src/directory/open-database.ts';
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
});
