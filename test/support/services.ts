import type { TestContext } from 'node:test';
import pg from 'pg';
import mysql from 'mysql2/promise';

export const POSTGRES_URL = process.env.ROLECALL_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const MARIADB_URL = process.env.ROLECALL_TEST_MARIADB ?? 'mysql://root@127.0.0.1:3306/test';

const inCi = () => Boolean(process.env.CI);

async function reachable(probe: () => Promise<void>): Promise<string | null> {
  try {
    await probe();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

let pgProbe: Promise<string | null> | undefined;
let mariaProbe: Promise<string | null> | undefined;

export function postgresDown(): Promise<string | null> {
  pgProbe ??= reachable(async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 });
    await client.connect();
    await client.end();
  });
  return pgProbe;
}

export function mariadbDown(): Promise<string | null> {
  mariaProbe ??= reachable(async () => {
    const conn = await mysql.createConnection({ uri: MARIADB_URL, connectTimeout: 2000 });
    await conn.end();
  });
  return mariaProbe;
}

/**
 * Returns true when the test may run. A missing server fails the test under CI and
 * skips it with a loud message elsewhere.
 */
async function need(t: TestContext, name: string, down: string | null): Promise<boolean> {
  if (down === null) return true;
  const message = `${name} is not reachable (${down}); start it (see .ci/run)`;
  if (inCi()) throw new Error(`${message} — required under CI`);
  process.stderr.write(`\n!!! SKIPPED: ${message}\n`);
  t.skip(message);
  return false;
}

export const needPostgres = async (t: TestContext) => need(t, 'PostgreSQL', await postgresDown());
export const needMariadb = async (t: TestContext) => need(t, 'MariaDB', await mariadbDown());

/** Creates a throwaway PostgreSQL database; returns its URL and a drop function. */
export async function scratchPostgresDatabase(prefix: string, options: { copyOf?: string } = {}): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  // copyOf: the URL of a database to clone (it must have no open connections).
  const template = options.copyOf ? ` TEMPLATE "${decodeURIComponent(new URL(options.copyOf).pathname.slice(1)).replaceAll('"', '""')}"` : '';
  await admin.query(`CREATE DATABASE "${name}"${template}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      try {
        // Pools closing just before this may still be leaving: wait for them (bounded) rather than
        // terminating them, which makes their clients emit errors into whatever test runs next.
        for (let attempt = 0; attempt < 30; attempt++) {
          const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
          if (rows[0]?.n === 0) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
