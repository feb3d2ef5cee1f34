import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, it, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { allMigrations } from '../../src/app/migrations.ts';
import { TOKEN_CHANGES_CHANNEL } from '../../src/directory/directory-migrations.ts';
import { KyselyTenantRepository } from '../../src/directory/kysely-tenant-repository.ts';
import { openDatabase } from '../../src/directory/open-database.ts';
import { listenerName, NotificationListener } from '../../src/directory/postgres/notification-listener.ts';
import { eventually } from '../e2e/e2e-world.ts';
import { needPostgres, postgresDown, scratchPostgresDatabase } from '../support/services.ts';

describe('PostgreSQL token lookups remembered while the api_tokens trigger is heard', async () => {
  it('PostgreSQL is reachable', async (t) => {
    await needPostgres(t);
  });
  if ((await postgresDown()) !== null) return;

  /** A "server" repository that listens and a "CLI" one beside it on its own pool, as two processes have. */
  async function setUp(options: ConstructorParameters<typeof NotificationListener>[2] = {}) {
    const scratch = await scratchPostgresDatabase('rolecall_tokens');
    const server = await openDatabase({ store: scratch.url, dataDir: '', migrations: allMigrations });
    const tool = await openDatabase({ store: scratch.url, dataDir: '', migrations: allMigrations });
    const listener = new NotificationListener(scratch.url, TOKEN_CHANGES_CHANNEL, options);
    await listener.start();
    const served = new KyselyTenantRepository(server, listener);
    const cli = new KyselyTenantRepository(tool);
    const tenant = await cli.createTenant({ name: 'shared' });
    /** Changes a token's row without the trigger firing: what a missed notification would leave. */
    const silently = (hash: string, revokedAt: string | null) =>
      tool.db.connection().execute(async (conn) => {
        await sql`SET session_replication_role = replica`.execute(conn);
        try {
          await sql`UPDATE api_tokens SET revoked_at = ${revokedAt} WHERE hash = ${hash}`.execute(conn);
        } finally {
          await sql`SET session_replication_role = origin`.execute(conn);
        }
      });
    const cleanup = async () => {
      await listener.close();
      await server.close();
      await tool.close();
      await scratch.drop();
    };
    return { url: scratch.url, served, cli, tool, tenant, listener, silently, cleanup };
  }

  it('a lookup is remembered, and a revocation by another connection is refused as soon as its notification arrives', async () => {
    const { served, cli, tenant, listener, silently, cleanup } = await setUp();
    try {
      const before = listener.version();
      const token = await cli.createToken({ tenantId: tenant.id, name: 'entra', hash: 'hash-1', expiresAt: null });
      await eventually('the creation is announced', () => assert.notEqual(listener.version(), before), 3000);
      assert.equal((await served.findTokenByHash('hash-1'))?.id, token.id);
      // Remembered: a change that sends no notification is not seen...
      await silently('hash-1', '2026-01-01T00:00:00.000Z');
      assert.equal((await served.findTokenByHash('hash-1'))?.revokedAt, null, 'served from memory');
      await silently('hash-1', null);
      // ...while `rolecall token revoke` in another process (its UPDATE fires the trigger) is.
      const revoked = await cli.revokeToken(token.id);
      await eventually('revocation seen', async () => assert.equal((await served.findTokenByHash('hash-1'))?.revokedAt, revoked!.revokedAt), 3000);
      // An unknown hash is remembered as unknown until another process creates that token.
      assert.equal(await served.findTokenByHash('hash-2'), undefined);
      await cli.createToken({ tenantId: tenant.id, name: 'okta', hash: 'hash-2', expiresAt: null });
      await eventually('creation seen', async () => assert.notEqual(await served.findTokenByHash('hash-2'), undefined), 3000);
      // The repository's own writes are seen at once, before any notification could arrive.
      const own = await served.createToken({ tenantId: tenant.id, name: 'own', hash: 'hash-3', expiresAt: null });
      assert.equal((await served.findTokenByHash('hash-3'))?.revokedAt, null);
      await served.revokeToken(own.id);
      assert.notEqual((await served.findTokenByHash('hash-3'))?.revokedAt, null);
      await served.touchToken(token.id, '2026-12-01T00:00:00.000Z');
      assert.equal((await served.findTokenByHash('hash-1'))?.lastUsedAt, '2026-12-01T00:00:00.000Z');
    } finally {
      await cleanup();
    }
  });

  it('while the listening connection is down nothing is remembered; once it listens again lookups are remembered again', async () => {
    const { served, cli, tool, tenant, listener, silently, cleanup } = await setUp({ retryMs: 200 });
    try {
      await cli.createToken({ tenantId: tenant.id, name: 'entra', hash: 'hash-1', expiresAt: null });
      await eventually('the token is found', async () => assert.notEqual(await served.findTokenByHash('hash-1'), undefined), 3000);
      const listening = async () => (await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE application_name = ${listenerName(TOKEN_CHANGES_CHANNEL)} AND datname = current_database()`.execute(tool.db)).rows.map((r) => r.pid);
      const [pid, ...others] = await listening();
      assert.ok(pid !== undefined && others.length === 0, 'one listening connection');
      await sql`SELECT pg_terminate_backend(${pid})`.execute(tool.db);
      await eventually('the lost connection stops the listener vouching', () => assert.equal(listener.version(), undefined), 3000);
      // A change no one announces: with the listener down, the lookup reads it.
      await silently('hash-1', '2026-01-01T00:00:00.000Z');
      assert.equal((await served.findTokenByHash('hash-1'))?.revokedAt, '2026-01-01T00:00:00.000Z');
      await eventually('the listener reconnects', () => assert.notEqual(listener.version(), undefined), 3000);
      const [again] = await listening();
      assert.ok(again !== undefined && again !== pid, 'a new connection listens');
      await served.findTokenByHash('hash-1');
      await silently('hash-1', null);
      assert.equal((await served.findTokenByHash('hash-1'))?.revokedAt, '2026-01-01T00:00:00.000Z', 'remembered again');
    } finally {
      await cleanup();
    }
  });

  it('heartbeats, of this listener or of other instances, do not drop remembered lookups', async () => {
    // Stale after 100 ms without a heartbeat heard: vouching through the 200 ms below proves they are heard.
    const { url, served, cli, tenant, listener, silently, cleanup } = await setUp({ heartbeatMs: 20, staleMs: 100 });
    const other = new NotificationListener(url, TOKEN_CHANGES_CHANNEL, { heartbeatMs: 20 });
    try {
      await other.start();
      const before = listener.version();
      await cli.createToken({ tenantId: tenant.id, name: 'entra', hash: 'hash-1', expiresAt: null });
      await eventually('the creation is announced', () => assert.notEqual(listener.version(), before), 3000);
      assert.equal((await served.findTokenByHash('hash-1'))?.revokedAt, null);
      const version = listener.version();
      await silently('hash-1', '2026-01-01T00:00:00.000Z');
      await sleep(200);
      assert.equal(listener.version(), version, 'about 10 heartbeats of each listener later, still vouching, same version');
      assert.equal((await served.findTokenByHash('hash-1'))?.revokedAt, null, 'still served from memory');
    } finally {
      await other.close();
      await cleanup();
    }
  });

  it('a listener that hears no heartbeat stops vouching', async () => {
    // A heartbeat far apart stands for one that is never heard (a connection cut without a word,
    // or a pooler that does not pass notifications on).
    const { listener, cleanup } = await setUp({ heartbeatMs: 60_000, staleMs: 300 });
    try {
      assert.notEqual(listener.version(), undefined);
      await sleep(400);
      assert.equal(listener.version(), undefined);
    } finally {
      await cleanup();
    }
  });

  it('without a listener every lookup reads', async () => {
    const { cli, tenant, silently, cleanup } = await setUp();
    try {
      await cli.createToken({ tenantId: tenant.id, name: 'entra', hash: 'hash-1', expiresAt: null });
      assert.equal((await cli.findTokenByHash('hash-1'))?.revokedAt, null);
      await silently('hash-1', '2026-01-01T00:00:00.000Z');
      assert.equal((await cli.findTokenByHash('hash-1'))?.revokedAt, '2026-01-01T00:00:00.000Z');
    } finally {
      await cleanup();
    }
  });
});

test('a listener whose server accepts the connection and never answers gives up on it in time', { timeout: 10_000 }, async () => {
  const held: Socket[] = [];
  const silent = createServer((socket) => void held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  const listener = new NotificationListener(`postgres://rolecall@127.0.0.1:${port}/none`, TOKEN_CHANGES_CHANNEL, { staleMs: 300, retryMs: 60_000 });
  try {
    const started = Date.now();
    await listener.start();
    assert.ok(Date.now() - started < 5000, 'start() does not wait without bound');
    assert.equal(listener.version(), undefined);
  } finally {
    await listener.close();
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});
