import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery } from 'kysely';
import { directoryMigrations } from '../../src/directory/directory-migrations.ts';
import { dialectSql } from '../../src/directory/dialect-sql.ts';
import { compileFilter } from '../../src/directory/filter-sql.ts';
import { KyselyResourceStore } from '../../src/directory/kysely-resource-store.ts';
import { openDatabase } from '../../src/directory/open-database.ts';
import { SQLITE_FILE } from '../../src/directory/sqlite/sqlite-dialect.ts';
import { parseFilter } from '../../src/scim/filter/parse-filter.ts';
import { USER_RESOURCE_TYPE } from '../../src/scim/schema/resource-types.ts';
import { runStoreContract } from './store-contract.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'rolecall-store-'));
const openIn = (dataDir: string) => openDatabase({ store: 'sqlite', dataDir, migrations: [directoryMigrations] });
const context = { requestId: 'r', tenantId: 't', tokenId: null, clientAddress: null, method: 'POST', path: '/Users' };

runStoreContract(
  'sqlite',
  async () => {
    const dataDir = tempDir();
    const database = await openIn(dataDir);
    return {
      database,
      cleanup: async () => {
        await database.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
  {
    skip: {
      'writes of two instances locking two groups in opposite orders both complete (deadlock retried)':
        'the embedded store belongs to one process, and SQLite runs one write transaction at a time on its single connection, so two writes never hold locks at once; the case would wait forever at its rendezvous',
      'addMembersById with touch fails the write when the group was deleted since it was read, leaving no member row':
        'SQLite runs one write transaction at a time, so no other write can delete the group between this write\'s read and its member insert; the case would wait for its own write to end',
    },
  },
);

describe('sqlite list pages: totals and page cursors while nothing changed', () => {
  it('a walk of pages answers as fresh queries do, and any commit (own or another process) is seen at once', async () => {
    const dataDir = tempDir();
    try {
      const database = await openIn(dataDir);
      const store = new KyselyResourceStore(database, []);
      const ids = Array.from({ length: 2500 }, () => randomUUID());
      await store.write(context, async (w) => {
        for (const [i, id] of ids.entries()) await w.insert('User', 't', { id, data: { userName: `u${i}` } });
      });
      const sorted = [...ids].sort();
      const page = (startIndex: number) => store.list('User', 't', { startIndex, count: 100, schema: USER_RESOURCE_TYPE });
      // Past the late-lookup depth the walk continues from each page's last id; the pages are the same.
      for (let start = 1; start <= 2500; start += 100) {
        const result = await page(start);
        assert.equal(result.totalResults, 2500);
        assert.deepEqual(result.resources.map((r) => r.id), sorted.slice(start - 1, start + 99), `page at ${start}`);
      }
      // Our own write: totals and pages move at once.
      const extra = '00000000-0000-4000-8000-000000000000';
      await store.write(context, (w) => w.insert('User', 't', { id: extra, data: { userName: 'first' } }));
      const moved = await page(1201);
      assert.equal(moved.totalResults, 2501);
      assert.deepEqual(moved.resources.map((r) => r.id), [extra, ...sorted].slice(1200, 1300));
      // Another process's write (another connection on the same file): seen at once too.
      const other = new BetterSqlite3(join(dataDir, SQLITE_FILE));
      other.pragma('busy_timeout = 5000');
      other.prepare('DELETE FROM users WHERE id = ?').run(sorted[0]);
      other.close();
      const after = await page(1201);
      assert.equal(after.totalResults, 2500);
      assert.deepEqual(after.resources.map((r) => r.id), [extra, ...sorted.slice(1)].slice(1200, 1300));
      await database.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('sqlite data folder', () => {
  it('a server-owned store is checkpointed in the background, long before the writer would checkpoint itself', async () => {
    const dataDir = tempDir();
    try {
      const database = await openIn(dataDir);
      const store = new KyselyResourceStore(database, []);
      const file = join(dataDir, SQLITE_FILE);
      const before = statSync(file).size;
      // About 2 MB of WAL: far below the writer's own threshold (~40 MB), so only the background thread copies it.
      for (let batch = 0; batch < 20; batch++) {
        await store.write(context, async (w) => {
          for (let i = 0; i < 25; i++) await w.insert('User', 't', { id: randomUUID(), data: { userName: `u${batch}-${i}`, displayName: 'x'.repeat(3000) } });
        });
      }
      const deadline = Date.now() + 5000;
      while (statSync(file).size <= before) {
        assert.ok(Date.now() < deadline, `the database file never grew past ${before} bytes: nothing was checkpointed`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await database.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a second open of the same folder while the first is open, then reopens with the data', async () => {
    const dataDir = tempDir();
    try {
      const first = await openIn(dataDir);
      const store = new KyselyResourceStore(first, []);
      const id = randomUUID();
      await store.write(context, (w) => w.insert('User', 't', { id, data: { userName: 'alice' } }));

      await assert.rejects(openIn(dataDir), (error: Error) => {
        assert.match(error.message, /in use by another Rolecall process \(pid \d+/);
        return true;
      });
      await first.close();

      const second = await openIn(dataDir);
      assert.equal((await new KyselyResourceStore(second, []).get('User', 't', id))?.data.userName, 'alice');
      await second.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a SIGKILLed owner leaves no stale lock and loses no acknowledged write', async () => {
    const dataDir = tempDir();
    try {
      const script = `
        const { openDatabase } = await import(${JSON.stringify(new URL('../../src/directory/open-database.ts', import.meta.url).href)});
        const { directoryMigrations } = await import(${JSON.stringify(new URL('../../src/directory/directory-migrations.ts', import.meta.url).href)});
        const { KyselyResourceStore } = await import(${JSON.stringify(new URL('../../src/directory/kysely-resource-store.ts', import.meta.url).href)});
        const db = await openDatabase({ store: 'sqlite', dataDir: process.argv[1], migrations: [directoryMigrations] });
        const store = new KyselyResourceStore(db, []);
        await store.write(${JSON.stringify(context)}, (w) => w.insert('User', 't', { id: 'acked', data: { userName: 'acked' } }));
        process.stdout.write('committed\\n');
        setInterval(() => {}, 1000);
      `;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('committed') && resolve());
        child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
      });
      await assert.rejects(openIn(dataDir), /in use by another Rolecall process/);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));

      const reopened = await openIn(dataDir);
      assert.equal((await new KyselyResourceStore(reopened, []).get('User', 't', 'acked'))?.data.userName, 'acked');
      await reopened.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a write whose snapshot went stale under another process is retried, not failed', async () => {
    const dataDir = tempDir();
    const server = await openIn(dataDir);
    const tool = await openDatabase({ store: 'sqlite', dataDir, migrations: [directoryMigrations], exclusive: false });
    try {
      const serverStore = new KyselyResourceStore(server, []);
      const toolStore = new KyselyResourceStore(tool, []);
      let attempts = 0;
      let serverWrote: Promise<unknown> | undefined;
      await toolStore.write(context, async (w) => {
        attempts += 1;
        await w.get('User', 't', 'x'); // opens the read snapshot
        serverWrote ??= serverStore.write(context, (sw) => sw.insert('User', 't', { id: 'from-server', data: { userName: 'server' } }));
        await serverWrote;
        // Upgrading the stale snapshot to a write fails with SQLITE_BUSY_SNAPSHOT; write() re-runs fn.
        await w.insert('User', 't', { id: 'from-tool', data: { userName: 'tool' } });
      });
      assert.equal(attempts, 2);
      assert.ok(await serverStore.get('User', 't', 'from-tool'));
      assert.ok(await serverStore.get('User', 't', 'from-server'));
    } finally {
      await tool.close();
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('userName eq and the default page use indexes, not table scans', async () => {
    const dataDir = tempDir();
    const database = await openIn(dataDir);
    try {
      const explain = async (text: string, parameters: readonly unknown[]) => {
        const { rows } = await database.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${text}`, [...parameters]));
        return rows.map((r) => r.detail).join(' | ');
      };
      const compiled = (filter: string) =>
        database.db
          .selectFrom('users as r')
          .selectAll()
          .where('r.tenant_id', '=', 't')
          .where(compileFilter(parseFilter(filter), USER_RESOURCE_TYPE, 'User', dialectSql('sqlite')))
          .orderBy('r.id')
          .limit(100)
          .compile();
      // The unique constraint's index is SQLite's autoindex; what matters is the key it searches.
      for (const [filter, search] of [
        ['userName eq "Alice"', /SEARCH r USING INDEX \w+ \(tenant_id=\? AND user_name_lc=\?\)/],
        ['userName sw "ali"', /SEARCH r USING INDEX \w+ \(tenant_id=\? AND user_name_lc>\? AND user_name_lc<\?\)/],
        ['externalId eq "x"', /SEARCH r USING INDEX users_tenant_external_id \(tenant_id=\? AND external_id=\?\)/],
      ] as const) {
        const q = compiled(filter);
        const detail = await explain(q.sql, q.parameters);
        assert.match(detail, search, `${filter}: ${detail}`);
        assert.doesNotMatch(detail, /SCAN r\b(?! USING)/, `${filter}: ${detail}`);
      }
      const page = database.db.selectFrom('users as r').selectAll().where('r.tenant_id', '=', 't').orderBy('r.id').limit(100).compile();
      const detail = await explain(page.sql, page.parameters);
      assert.match(detail, /SEARCH r USING INDEX sqlite_autoindex_users_1 \(tenant_id=\?\)/, detail);
      assert.doesNotMatch(detail, /TEMP B-TREE/, detail);
    } finally {
      await database.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
