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

/**
 * PostgreSQL: the store chains pending events itself (AuditLog.seal). Moving them through the
 * server cost about 40 us of its CPU and 20 us of PostgreSQL's per event (each row read out,
 * hashed and sent back as bound values); this function does it in one round trip for about
 * 12 us of PostgreSQL's. The text hashed is exactly eventHash()'s: the fields as JSON in key
 * order, strings escaped as JSON.stringify escapes them (to_json escapes the same characters
 * the same way), seq as a plain number, absent values as null. A test pins the equivalence
 * with characters that need escaping.
 *
 * In a READ COMMITTED transaction every statement here takes a new snapshot: the pending rows
 * are read after the head lock is granted, so everything committed before it is seen. Rows
 * are moved by the ids read (an event committed meanwhile with a lower id stays pending).
 */
function sealFunction(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<any>) {
      if (dialect !== 'postgres') return;
      await sql`
        create function audit_seal(max_rows integer)
        returns table (prev_seq bigint, last_seq bigint, last_hash text, sealed integer)
        language plpgsql volatile as $fn$
        declare
          r record;
          head_seq bigint;
          head_hash text;
          s bigint;
          h text;
          ids bigint[] := '{}';
          seqs bigint[] := '{}';
          prevs text[] := '{}';
          hashes text[] := '{}';
        begin
          select a.last_seq, a.last_hash into head_seq, head_hash from audit_head a where a.id = 1 for update;
          if not found then raise exception 'audit_head has no row: the audit migrations did not run'; end if;
          s := head_seq;
          h := head_hash;
          for r in select * from audit_pending p order by p.id limit max_rows loop
            s := s + 1;
            ids := ids || r.id;
            seqs := seqs || s;
            prevs := prevs || h;
            h := encode(sha256(convert_to(
              '{"actor":' || to_json(r.actor)::text
              || ',"at":' || to_json(r.at)::text
              || ',"groupId":' || coalesce(to_json(r.group_id)::text, 'null')
              || ',"payload":' || to_json(r.payload)::text
              || ',"prevHash":' || to_json(h)::text
              || ',"requestId":' || coalesce(to_json(r.request_id)::text, 'null')
              || ',"seq":' || s::text
              || ',"target":' || coalesce(to_json(r.target)::text, 'null')
              || ',"tenantId":' || coalesce(to_json(r.tenant_id)::text, 'null')
              || ',"type":' || to_json(r.type)::text
              || ',"userId":' || coalesce(to_json(r.user_id)::text, 'null')
              || '}', 'UTF8')), 'hex');
            hashes := hashes || h;
          end loop;
          if s > head_seq then
            insert into audit_events (seq, at, type, tenant_id, request_id, actor, user_id, group_id, target, payload, prev_hash, hash)
              select c.seq, p.at, p.type, p.tenant_id, p.request_id, p.actor, p.user_id, p.group_id, p.target, p.payload, c.prev_hash, c.hash
              from unnest(ids, seqs, prevs, hashes) as c (id, seq, prev_hash, hash)
              join audit_pending p on p.id = c.id
              order by c.seq;
            delete from audit_pending p where p.id = any (ids);
            update audit_head a set last_seq = s, last_hash = h where a.id = 1;
          end if;
          return query select head_seq, s, h, (s - head_seq)::integer;
        end
        $fn$`.execute(db);
    },
    async down(db: Kysely<any>) {
      if (dialect === 'postgres') await sql`drop function audit_seal(integer)`.execute(db);
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
  '0207-audit-seal-function': sealFunction(dialect),
});
