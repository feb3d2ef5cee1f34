import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'kysely';
import { allMigrations } from '../../src/app/migrations.ts';
import { openDatabase } from '../../src/directory/open-database.ts';

test('a CLI tool opens the embedded store beside the owning server and sees its writes; a second server is refused', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rolecall-share-'));
  const server = await openDatabase({ store: 'sqlite', dataDir, migrations: allMigrations });
  try {
    await assert.rejects(openDatabase({ store: 'sqlite', dataDir, migrations: allMigrations }), /in use by another Rolecall process/);
    const tool = await openDatabase({ store: 'sqlite', dataDir, migrations: allMigrations, exclusive: false });
    try {
      await sql`INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'shared', '2026-01-01T00:00:00.000Z')`.execute(tool.db);
      const row = await sql<{ name: string }>`SELECT name FROM tenants WHERE id = 't1'`.execute(server.db);
      assert.equal(row.rows[0]?.name, 'shared');
    } finally {
      await tool.close();
    }
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
