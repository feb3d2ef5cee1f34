import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'kysely';
import { allMigrations } from '../../src/app/migrations.ts';
import { KyselyTenantRepository } from '../../src/directory/kysely-tenant-repository.ts';
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

test('token lookups the server remembers follow writes of a CLI tool beside it and its own writes at once', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rolecall-share-'));
  const server = await openDatabase({ store: 'sqlite', dataDir, migrations: allMigrations });
  try {
    const tool = await openDatabase({ store: 'sqlite', dataDir, migrations: allMigrations, exclusive: false });
    try {
      const served = new KyselyTenantRepository(server);
      const cli = new KyselyTenantRepository(tool);
      const tenant = await cli.createTenant({ name: 'shared' });
      // An unknown hash is remembered as unknown, until the tool creates that token.
      assert.equal(await served.findTokenByHash('hash-1'), undefined);
      assert.equal(await served.findTokenByHash('hash-1'), undefined);
      const token = await cli.createToken({ tenantId: tenant.id, name: 'entra', hash: 'hash-1', expiresAt: null });
      assert.equal((await served.findTokenByHash('hash-1'))?.id, token.id);
      assert.equal((await served.findTokenByHash('hash-1'))?.revokedAt, null, 'remembered, still valid');
      // `rolecall token revoke` beside the server: the next lookup sees it.
      await cli.revokeToken(token.id);
      assert.notEqual((await served.findTokenByHash('hash-1'))?.revokedAt, null);
      // The server's own writes (which SQLite's data_version does not count) are seen as well.
      const own = await served.createToken({ tenantId: tenant.id, name: 'okta', hash: 'hash-2', expiresAt: null });
      assert.equal((await served.findTokenByHash('hash-2'))?.revokedAt, null);
      await served.revokeToken(own.id);
      assert.notEqual((await served.findTokenByHash('hash-2'))?.revokedAt, null);
      await served.touchToken(token.id, '2026-12-01T00:00:00.000Z');
      assert.equal((await served.findTokenByHash('hash-1'))?.lastUsedAt, '2026-12-01T00:00:00.000Z');
    } finally {
      await tool.close();
    }
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
