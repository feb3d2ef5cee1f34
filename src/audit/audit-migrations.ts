import { sql, type CreateTableBuilder, type Kysely, type Migration } from 'kysely';
import type { MigrationSet, SqlDialect } from '../directory/database.ts';
import { AuditBlocks } from './audit-blocks.ts';
import { GENESIS_HASH } from './event-hash.ts';

/**
 * seq is bigint on PostgreSQL (an audit log outlives 2^31 events in a busy multi-tenant
 * install; read back as a string and converted, exact up to 2^53) and INTEGER PRIMARY KEY
 * on SQLite (the rowid itself: no second index).
 */
const seqType = (dialect: SqlDialect) => (dialect === 'postgres' ? 'bigint' : 'integer');

/** The columns of an event that are written before it is chained (everything but seq and the hashes). */
function withEventColumns(table: CreateTableBuilder<string, never>): CreateTableBuilder<string, never> {
  return table
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text')
    .addColumn('request_id', 'text')
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('group_id', 'text')
    .addColumn('target', 'text')
    .addColumn('payload', 'text', (c) => c.notNull());
}

/**
 * `at` and `payload` are text on both dialects on purpose: the hash covers the exact stored
 * bytes, and timestamptz/jsonb would normalise them (microseconds, key order, spacing) so the
 * chain could no longer be recomputed. ISO-8601 UTC text with fixed width sorts correctly.
 */
function events(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<any>) {
      await withEventColumns(db.schema.createTable('audit_events').addColumn('seq', seqType(dialect), (c) => c.primaryKey()))
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      // Queries filter on one subject and page by seq, so (subject, seq) serves both.
      for (const column of ['user_id', 'group_id', 'target', 'type', 'tenant_id', 'request_id']) {
        await db.schema.createIndex(`audit_events_${column}_seq`).on('audit_events').columns([column, 'seq']).execute();
      }
      await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('audit_events').execute();
    },
  };
}

/** One row (id = 1): the chain head. Appenders lock it, so the chain stays linear across processes. */
function head(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('audit_head')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('last_seq', seqType(dialect), (c) => c.notNull())
        .addColumn('last_hash', 'text', (c) => c.notNull())
        .addCheckConstraint('audit_head_single_row', sql`id = 1`)
        .execute();
      await db.insertInto('audit_head').values({ id: 1, last_seq: 0, last_hash: GENESIS_HASH }).execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('audit_head').execute();
    },
  };
}

/** Where verification starts after pruning: seq and hash of the last pruned event. */
function checkpoints(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('audit_checkpoints')
        .addColumn('seq', seqType(dialect), (c) => c.primaryKey())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('pruned_before', 'text', (c) => c.notNull())
        .addColumn('removed', seqType(dialect), (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('audit_checkpoints').execute();
    },
  };
}

/**
 * Events written inside other transactions (a directory change and its event commit together)
 * wait here, outside the chain, until AuditLog.seal() chains them; see AuditLog.record().
 */
function pending(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<any>) {
      const table = db.schema
        .createTable('audit_pending')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()));
      await withEventColumns(table).execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('audit_pending').execute();
    },
  };
}

/**
 * Most events name no user, group or target (every SCIM request line): those three indexes
 * leave such rows out, so writing an event touches fewer b-trees. A query on `user_id = ?`
 * implies `user_id IS NOT NULL` and still uses them, on both stores.
 */
function partialSubjectIndexes(): Migration {
  const columns = ['user_id', 'group_id', 'target'];
  return {
    async up(db: Kysely<any>) {
      for (const column of columns) {
        await db.schema.dropIndex(`audit_events_${column}_seq`).execute();
        await db.schema.createIndex(`audit_events_${column}_seq`).on('audit_events').columns([column, 'seq']).where(sql.ref(column), 'is not', null).execute();
      }
    },
    async down(db: Kysely<any>) {
      for (const column of columns) {
        await db.schema.dropIndex(`audit_events_${column}_seq`).execute();
        await db.schema.createIndex(`audit_events_${column}_seq`).on('audit_events').columns([column, 'seq']).execute();
      }
    },
  };
}

/**
 * No index on request_id or tenant_id: queries by them (neither is one of the query dimensions
 * the admin API and CLI offer beside user, group, target, type and time) scan in seq order,
 * while every event written would otherwise pay for both, request_id with a random page each.
 */
function dropRequestAndTenantIndexes(): Migration {
  return {
    async up(db: Kysely<any>) {
      for (const column of ['request_id', 'tenant_id']) await db.schema.dropIndex(`audit_events_${column}_seq`).execute();
    },
    async down(db: Kysely<any>) {
      for (const column of ['request_id', 'tenant_id']) await db.schema.createIndex(`audit_events_${column}_seq`).on('audit_events').columns([column, 'seq']).execute();
    },
  };
}

/** The per-event indexes block summaries replace (see audit-blocks.ts), with their definitions for down(). */
const EVENT_INDEXES = [
  { name: 'audit_events_user_id_seq', columns: ['user_id', 'seq'], partial: 'user_id' },
  { name: 'audit_events_group_id_seq', columns: ['group_id', 'seq'], partial: 'group_id' },
  { name: 'audit_events_target_seq', columns: ['target', 'seq'], partial: 'target' },
  { name: 'audit_events_type_seq', columns: ['type', 'seq'], partial: null },
  { name: 'audit_events_at', columns: ['at'], partial: null },
] as const;

/**
 * Block summaries instead of per-event indexes: one row per 1,024 events with the time span,
 * the event types and a Bloom filter of the subjects. Completed blocks of an existing trail
 * are summarized here.
 */
function blockSummaries(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('audit_blocks')
        .addColumn('block', 'integer', (c) => c.primaryKey())
        .addColumn('min_at', 'text', (c) => c.notNull())
        .addColumn('max_at', 'text', (c) => c.notNull())
        .addColumn('types', 'integer', (c) => c.notNull())
        .addColumn('filter', dialect === 'postgres' ? 'bytea' : 'blob', (c) => c.notNull())
        .execute();
      for (const index of EVENT_INDEXES) await db.schema.dropIndex(index.name).execute();
      const head = await db.selectFrom('audit_head').select('last_seq').where('id', '=', 1).executeTakeFirstOrThrow();
      await new AuditBlocks().completed(db, 0, Number(head.last_seq));
    },
    async down(db: Kysely<any>) {
      for (const index of EVENT_INDEXES) {
        const create = db.schema.createIndex(index.name).on('audit_events').columns([...index.columns]);
        await (index.partial ? create.where(sql.ref(index.partial), 'is not', null) : create).execute();
      }
      await db.schema.dropTable('audit_blocks').execute();
    },
  };
}

export const auditMigrations: MigrationSet = (dialect) => ({
  '0200-audit-events': events(dialect),
  '0201-audit-head': head(dialect),
  '0202-audit-checkpoints': checkpoints(dialect),
  '0203-audit-pending': pending(dialect),
  '0204-audit-partial-subject-indexes': partialSubjectIndexes(),
  '0205-audit-no-request-tenant-indexes': dropRequestAndTenantIndexes(),
  '0206-audit-block-summaries': blockSummaries(dialect),
});
