/**
 * The raw baseline of an initial sync: the statements that produce the same logins and grants,
 * sent directly by a plain client as the same least-privileged provisioner, one statement per
 * round trip (as `psql -f script.sql` would), with no planning, queue or bookkeeping.
 */
import mysql from 'mysql2/promise';
import pg from 'pg';
import { mysqlSql, perUserRole } from '../../src/targets/mysql/mysql-sql.ts';
import { postgresSql } from '../../src/targets/postgres/postgres-sql.ts';
import { MARKER } from './databases.ts';

export interface RawShape {
  users: number;
  groups: number;
  groupsOf: (i: number) => number[];
  login: (i: number) => string;
  role: (g: number) => string;
}

/** PostgreSQL: CREATE ROLE (groups), CREATE ROLE ... LOGIN IN ROLE marker, GRANT; all in ONE transaction (targets.md). */
export async function rawPostgres(url: string, shape: RawShape): Promise<{ seconds: number; statements: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    try {
      await client.query(postgresSql.createGroupRole(MARKER).text);
    } catch (error) {
      if ((error as { code?: string }).code !== '42710') throw error;
    }
    const statements: string[] = [];
    for (let g = 0; g < shape.groups; g++) statements.push(postgresSql.createGroupRole(shape.role(g)).text);
    for (let i = 0; i < shape.users; i++) {
      statements.push(postgresSql.createLogin(shape.login(i), MARKER).text);
      for (const g of shape.groupsOf(i)) statements.push(postgresSql.grant(shape.role(g), shape.login(i)).text);
    }
    const t0 = performance.now();
    await client.query('BEGIN');
    for (const s of statements) await client.query(s);
    await client.query('COMMIT');
    return { seconds: (performance.now() - t0) / 1000, statements: statements.length };
  } finally {
    await client.end();
  }
}

/**
 * MariaDB (not transactional): per user, the minimal statements for the same end state as
 * Rolecall's: CREATE ROLE rc$u, GRANT marker TO rc$u, CREATE USER, GRANT rc$u TO u, one GRANT per
 * mapped role to rc$u, SET DEFAULT ROLE rc$u FOR u.
 */
export async function rawMariadb(url: string, shape: RawShape): Promise<{ seconds: number; statements: number }> {
  const conn = await mysql.createConnection({ uri: url });
  const s = mysqlSql('mariadb');
  try {
    await conn.query(s.createRole(MARKER).text);
    const statements: string[] = [];
    for (let g = 0; g < shape.groups; g++) statements.push(s.createRole(shape.role(g)).text);
    for (let i = 0; i < shape.users; i++) {
      const login = shape.login(i);
      statements.push(s.createRole(perUserRole(login)).text, s.grantToRole(MARKER, perUserRole(login)).text, s.createUser(login).text, s.grantToUser(perUserRole(login), login).text);
      for (const g of shape.groupsOf(i)) statements.push(s.grantToRole(shape.role(g), perUserRole(login)).text);
      statements.push(s.setDefaultRole(login).text);
    }
    const t0 = performance.now();
    for (const statement of statements) await conn.query(statement);
    return { seconds: (performance.now() - t0) / 1000, statements: statements.length };
  } finally {
    await conn.end();
  }
}

