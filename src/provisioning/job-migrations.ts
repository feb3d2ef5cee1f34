import { sql, type Kysely, type Migration } from 'kysely';
import type { MigrationSet, SqlDialect } from '../directory/database.ts';

/**
 * Tables of the provisioning outbox (see job-queue.ts for the state machine):
 * - jobs: one row per "reconcile user U of tenant T on target X" request;
 * - job_attempts: every run of a job with its per-step results (kratos courier style);
 * - accounts: which login Rolecall manages for which directory user on which target, so a
 *   deleted user's login and a long name's short form are still known later.
 *
 * Timestamps are ISO-8601 UTC text with millisecond precision (Date#toISOString) on both
 * stores, as in the directory tables: equal-length strings, so text comparison orders them.
 * Text is COLLATE "C" on PostgreSQL (byte order, like SQLite's BINARY), as in the directory.
 */
export const jobMigrations: MigrationSet = (dialect) => ({
  '0100-provisioning-jobs': jobsMigration(dialect),
  '0101-provisioning-accounts': accountsMigration(dialect),
});

const text = (dialect: SqlDialect) => (dialect === 'postgres' ? sql`text collate "C"` : sql`text`);

function jobsMigration(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('jobs')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('tenant_id', text(dialect), (c) => c.notNull())
        .addColumn('user_id', text(dialect), (c) => c.notNull())
        .addColumn('target', text(dialect), (c) => c.notNull())
        .addColumn('state', text(dialect), (c) => c.notNull().check(sql`state in ('queued', 'running', 'done', 'dead')`))
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('run_after', text(dialect), (c) => c.notNull())
        .addColumn('locked_by', text(dialect))
        .addColumn('locked_until', text(dialect))
        .addColumn('last_error', text(dialect))
        .addColumn('created_at', text(dialect), (c) => c.notNull())
        .addColumn('updated_at', text(dialect), (c) => c.notNull())
        .execute();
      // Coalescing: the plan is recomputed when a job runs, so one queued job per principal
      // is enough; enqueue relies on this index with ON CONFLICT DO NOTHING.
      await sql`create unique index jobs_one_queued on jobs (tenant_id, user_id, target) where state = 'queued'`.execute(db);
      await sql`create index jobs_claimable on jobs (target, run_after) where state = 'queued'`.execute(db);
      await sql`create index jobs_running on jobs (tenant_id, user_id, target) where state = 'running'`.execute(db);
      await sql`create index jobs_state on jobs (state, id)`.execute(db);

      await db.schema
        .createTable('job_attempts')
        .addColumn('job_id', dialect === 'postgres' ? 'bigint' : 'integer', (c) =>
          c.notNull().references('jobs.id').onDelete('cascade'),
        )
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('worker', text(dialect), (c) => c.notNull())
        .addColumn('started_at', text(dialect), (c) => c.notNull())
        .addColumn('finished_at', text(dialect), (c) => c.notNull())
        .addColumn('outcome', text(dialect), (c) => c.notNull().check(sql`outcome in ('done', 'retry', 'dead', 'expired')`))
        .addColumn('error', text(dialect))
        .addColumn('results', dialect === 'postgres' ? 'jsonb' : text(dialect), (c) => c.notNull())
        .addPrimaryKeyConstraint('job_attempts_pk', ['job_id', 'attempt'])
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('job_attempts').execute();
      await db.schema.dropTable('jobs').execute();
    },
  };
}

function accountsMigration(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('accounts')
        .addColumn('target', text(dialect), (c) => c.notNull())
        .addColumn('tenant_id', text(dialect), (c) => c.notNull())
        .addColumn('user_id', text(dialect), (c) => c.notNull())
        .addColumn('login', text(dialect), (c) => c.notNull())
        .addColumn('created_at', text(dialect), (c) => c.notNull())
        .addColumn('updated_at', text(dialect), (c) => c.notNull())
        .addPrimaryKeyConstraint('accounts_pk', ['target', 'tenant_id', 'user_id'])
        .addUniqueConstraint('accounts_login_unique', ['target', 'login'])
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('accounts').execute();
    },
  };
}
