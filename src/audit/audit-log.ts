import { CompiledQuery, type Kysely } from 'kysely';
import type { Database, SqlDialect } from '../directory/database.ts';
import { QueryTemplate, QueryTemplates } from '../directory/query-template.ts';
import { eventHash, GENESIS_HASH } from './event-hash.ts';
import { secretFreeJson } from './redact.ts';
import { AUDIT_EVENT_TYPES, type AuditEventType } from './audit-event-types.ts';
import { AuditBlocks, subjectProbe, typeMask, type BlockQuery, type SeqRange, type StoredSubjects } from './audit-blocks.ts';

export interface AuditEventInput {
  type: AuditEventType;
  tenantId?: string | null;
  requestId?: string | null;
  /** Token id, or 'system' (the default) for workers, reconciles and the CLI. */
  actor?: string;
  /** Subject columns, which queries filter on (see audit-blocks.ts). */
  userId?: string | null;
  groupId?: string | null;
  target?: string | null;
  /** Stored as canonical JSON; keys named like password/secret are removed at any depth. */
  payload?: Record<string, unknown>;
}

/** Who and what an event is about: the columns queries filter on. */
export interface AuditSubject {
  type: AuditEventType;
  tenantId: string | null;
  requestId: string | null;
  actor: string;
  userId: string | null;
  groupId: string | null;
  target: string | null;
}

export interface AuditEvent extends AuditSubject {
  seq: number;
  /** ISO-8601 UTC, millisecond precision. */
  at: string;
  payload: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface AuditQuery {
  tenantId?: string;
  userId?: string;
  groupId?: string;
  target?: string;
  requestId?: string;
  type?: AuditEventType | AuditEventType[];
  /** Inclusive lower bound on `at` (any Date-parsable text; normalised to ISO UTC). */
  from?: string;
  /** Exclusive upper bound on `at`. */
  to?: string;
  /** Keyset paging: the seq of the last event of the previous page (stable under concurrent appends, unlike offsets). */
  after?: number;
  /** Page size; default 100, at most 10,000. */
  limit?: number;
  order?: 'asc' | 'desc';
}

export interface AuditCheckpoint {
  /** Seq and hash of the last pruned event: verification continues from here. */
  seq: number;
  hash: string;
  at: string;
  prunedBefore: string;
  removed: number;
}

export interface VerifyProgress {
  events: number;
  seq: number;
  eventsPerSecond: number;
}

export type VerifyResult =
  | { ok: true; events: number; ms: number; eventsPerSecond: number; head: { seq: number; hash: string }; checkpointSeq: number | null }
  | { ok: false; firstBad: { seq: number; reason: string }; events: number };

export interface AuditLogOptions {
  /** Source of event times; tests pin it. */
  clock?: () => Date;
  /** Rows per read in verify and export (default 10,000): memory stays flat at any log size. */
  batchSize?: number;
  /** Retention for applyRetention(); unset keeps events forever. */
  retentionDays?: number;
}

const MAX_PAGE = 10_000;

/** The stored columns of an event, in the order exports write them. */
const EVENT_COLUMNS = ['seq', 'at', 'type', 'tenant_id', 'request_id', 'actor', 'user_id', 'group_id', 'target', 'payload', 'prev_hash', 'hash'] as const;

type Row = Record<(typeof EVENT_COLUMNS)[number], unknown>;

/** The columns record() writes to audit_pending, in the order recordMany() lists their values. */
const PENDING_COLUMNS = ['at', 'type', 'tenant_id', 'request_id', 'actor', 'user_id', 'group_id', 'target', 'payload'] as const;

/** The stored columns an event's hash covers besides seq, at, payload and prev_hash. */
function subjectOf(row: Row): AuditSubject {
  return {
    type: row.type as AuditEventType,
    tenantId: row.tenant_id as string | null,
    requestId: row.request_id as string | null,
    actor: row.actor as string,
    userId: row.user_id as string | null,
    groupId: row.group_id as string | null,
    target: row.target as string | null,
  };
}

function toEvent(row: Row): AuditEvent {
  return {
    seq: Number(row.seq),
    at: row.at as string,
    ...subjectOf(row),
    payload: JSON.parse(row.payload as string) as Record<string, unknown>,
    prevHash: row.prev_hash as string,
    hash: row.hash as string,
  };
}

function isoTime(text: string, name: string): string {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new RangeError(`${name}: not a date/time: ${JSON.stringify(text)}`);
  return new Date(ms).toISOString();
}

/**
 * Rows per INSERT of chained events (and per DELETE of sealed pending ones), largest first: a
 * batch is written as a few statements of these sizes, each compiled once (12 columns x 100
 * rows stays far under both stores' limits). An embedded store's commit of a dozen writes
 * appends their events in two or three statements.
 */
const INSERT_SIZES = [100, 50, 20, 10, 5, 2, 1] as const;

/** `items` cut into consecutive parts of INSERT_SIZES, largest first. */
function* sizedParts<T>(items: readonly T[]): Generator<T[]> {
  for (let i = 0; i < items.length; ) {
    const size = INSERT_SIZES.find((n) => n <= items.length - i)!;
    yield items.slice(i, i + size);
    i += size;
  }
}

/** Pending events chained per step at most, so a backlog is sealed in bounded steps. */
const SEAL_BATCH = 2000;

/** One step of PostgreSQL's seal: the head before and after, and how many events it chained. */
const SEAL_STEP = CompiledQuery.raw(`select prev_seq, last_seq, last_hash, sealed from audit_seal(${SEAL_BATCH})`);
interface SealStep { prev_seq: string; last_seq: string; last_hash: string; sealed: number }

interface ChainedRow {
  subject: AuditSubject;
  seq: number;
  at: string;
  payload: string;
  prevHash: string;
  hash: string;
}

/** Renders a checked input's payload (secrets removed, canonical JSON) and subject: all the work that needs no head. */
function prepare(input: AuditEventInput): { subject: AuditSubject; payload: string } {
  return {
    payload: secretFreeJson(input.payload ?? {}),
    subject: {
      type: input.type,
      tenantId: input.tenantId ?? null,
      requestId: input.requestId ?? null,
      actor: input.actor ?? 'system',
      userId: input.userId ?? null,
      groupId: input.groupId ?? null,
      target: input.target ?? null,
    },
  };
}

function checkType(input: AuditEventInput): void {
  if (!(AUDIT_EVENT_TYPES as readonly string[]).includes(input.type)) throw new TypeError(`unknown audit event type: ${input.type}`);
}

/** Numbers and hashes events in order after `head`. */
function chain(head: { seq: number; hash: string }, events: { subject: AuditSubject; at: string; payload: string }[]): ChainedRow[] {
  let prevHash = head.hash;
  return events.map(({ subject, at, payload }, i) => {
    const seq = head.seq + 1 + i;
    const { type, tenantId, requestId, actor, userId, groupId, target } = subject;
    const hash = eventHash({ type, tenantId, requestId, actor, userId, groupId, target, seq, at, payload, prevHash });
    const row = { subject, seq, at, payload, prevHash, hash };
    prevHash = hash;
    return row;
  });
}

/** RFC 4180: quote a field holding a comma, quote, CR or LF (or edge spaces), doubling inner quotes. */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Append-only, hash-chained audit log. Each event's hash covers all its columns and the
 * previous event's hash (see event-hash.ts); a one-row head table holds the last seq and
 * hash and is locked by every sealing append, so concurrent writers produce one linear chain.
 *
 * Two ways in. append() chains events at once under the head lock. record() writes an event
 * into `audit_pending` inside the caller's transaction without touching the head, so a change
 * and its event commit together while concurrent writes never queue on the chain; seal() later
 * chains committed pending events in the order it finds them (commit order), under the head
 * lock. Every append seals what is pending first, and reads (query, export, verify) seal before
 * reading, so a committed event is never missing from an answer.
 */
export class AuditLog {
  private readonly db: Kysely<any>;
  private readonly dialect: SqlDialect;
  private readonly clock: () => Date;
  private readonly batchSize: number;
  private readonly retentionDays: number | undefined;
  /** Multi-row INSERTs of chained events and DELETEs of sealed pending ones, by row count (see INSERT_SIZES). */
  private readonly sized = new QueryTemplates();
  private readonly blocks = new AuditBlocks();
  /** Every append and seal runs these: compiled once (see QueryTemplate). */
  private readonly selectHead: QueryTemplate<[]>;
  private readonly updateHead: QueryTemplate<[number, string]>;
  private readonly anyPending: QueryTemplate<[]>;
  private readonly selectPending: QueryTemplate<[]>;

  constructor(database: Pick<Database, 'db' | 'dialect'>, options: AuditLogOptions = {}) {
    this.db = database.db;
    this.dialect = database.dialect;
    // SQLite has no FOR UPDATE and needs none: its write transactions are serialised. There,
    // whether anything is pending comes with the head, so an append costs one statement less.
    // PostgreSQL seals with audit_seal(), which takes the lock and then looks for pending events.
    this.selectHead = new QueryTemplate(database.db, 0, (db) =>
      db.selectFrom('audit_head')
        .select(['last_seq', 'last_hash'])
        .where('id', '=', 1)
        .$if(this.dialect === 'sqlite', (q) => q.select((eb) => eb.exists(eb.selectFrom('audit_pending').select('id')).as('pending')))
        .$if(this.dialect === 'postgres', (q) => q.forUpdate()));
    this.updateHead = new QueryTemplate(database.db, 2, (db, seq, hash) =>
      db.updateTable('audit_head').set({ last_seq: seq, last_hash: hash }).where('id', '=', 1));
    // By the primary key: on PostgreSQL every seal leaves the rows it moved behind as dead tuples
    // until a vacuum, and a sequential scan that finds nothing live reads all of their pages
    // (7-15 ms at 5,737 pages after 80,000 POSTs, 0.2 ms by the index, which skips entries it
    // has seen dead). Each flush of the audit buffer asks this.
    this.anyPending = new QueryTemplate(database.db, 0, (db) => db.selectFrom('audit_pending').select('id').orderBy('id').limit(1));
    this.selectPending = new QueryTemplate(database.db, 0, (db) => db.selectFrom('audit_pending').selectAll().orderBy('id').limit(SEAL_BATCH));
    this.clock = options.clock ?? (() => new Date());
    this.batchSize = options.batchSize ?? 10_000;
    this.retentionDays = options.retentionDays;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new RangeError('batchSize must be a positive integer');
    if (this.retentionDays !== undefined && !(this.retentionDays > 0)) throw new RangeError('retentionDays must be positive');
  }

  /**
   * Appends one event inside `executor`'s transaction, so the event commits or rolls back
   * with the change it records. Given the root Kysely instance it opens its own transaction.
   * The head row stays locked until the caller commits: append last in a transaction, just
   * before commit, to keep other writers' wait short, or use record(), which takes no lock.
   * On PostgreSQL the caller's transaction must be READ COMMITTED (the default): the locked
   * head is then re-read at its newest version.
   */
  async append(executor: Kysely<any>, input: AuditEventInput): Promise<AuditEvent> {
    const [row] = await this.appendRows(executor, [input]);
    return { ...row!.subject, seq: row!.seq, at: row!.at, payload: JSON.parse(row!.payload) as Record<string, unknown>, prevHash: row!.prevHash, hash: row!.hash };
  }

  /**
   * Appends several events in order under one head lock, with multi-row INSERTs: the chain is
   * the same as appending them one by one, at a fraction of the statements. Returns how many.
   */
  async appendMany(executor: Kysely<any>, inputs: readonly AuditEventInput[]): Promise<number> {
    return (await this.appendRows(executor, inputs)).length;
  }

  private async appendRows(executor: Kysely<any>, inputs: readonly AuditEventInput[]): Promise<ChainedRow[]> {
    if (inputs.length === 0) return [];
    if (!executor.isTransaction) return executor.transaction().execute((tx) => this.appendRows(tx, inputs));
    // Refused and rendered before the head is locked.
    const prepared = inputs.map((input) => {
      checkType(input);
      return prepare(input);
    });
    // Events already committed come first: the chain follows the order things happened.
    const { head: sealed } = await this.lockAndSeal(executor);
    const at = this.clock().toISOString();
    const rows = chain(sealed, prepared.map((p) => ({ ...p, at })));
    await this.insertChained(executor, sealed.seq, rows);
    return rows;
  }

  /**
   * Writes an event inside `executor`'s transaction without taking the chain head, so it
   * commits or rolls back with the change it records and concurrent writers do not wait on
   * each other. It joins the chain at the next seal() or append after its commit; until then
   * it is stored in `audit_pending`, outside the chain. On PostgreSQL the insert travels with
   * the transaction's COMMIT (atCommit): no round trip of its own.
   */
  async record(executor: Kysely<any>, input: AuditEventInput): Promise<void> {
    await this.recordMany(executor, [input]);
  }

  /**
   * Records several events as record() does, in order, with multi-row INSERTs (see
   * INSERT_SIZES): on PostgreSQL a commit of many writes sends their events as a few
   * statements, not one each.
   */
  async recordMany(executor: Kysely<any>, inputs: readonly AuditEventInput[]): Promise<void> {
    for (const input of inputs) checkType(input);
    const at = this.clock().toISOString();
    const values = inputs.map((input) => {
      const { subject: s, payload } = prepare(input);
      return [at, s.type, s.tenantId, s.requestId, s.actor, s.userId, s.groupId, s.target, payload];
    });
    for (const part of sizedParts(values)) await this.insertPending(part.length).executeAtCommit(executor, ...part.flat());
  }

  /** Chains every committed pending event (see record()); returns how many. Cheap when none is pending. */
  async seal(): Promise<number> {
    if ((await this.anyPending.execute(this.db)).rows.length === 0) return 0;
    return this.db.transaction().execute(async (tx) => (await this.lockAndSeal(tx)).sealed);
  }

  /**
   * Locks the chain head and chains every pending event visible once the lock is held; returns
   * the head after that and how many events were chained. On PostgreSQL the store does it
   * (audit_seal, see audit-migrations.ts), SEAL_BATCH events per call.
   */
  private async lockAndSeal(tx: Kysely<any>): Promise<{ head: { seq: number; hash: string }; sealed: number }> {
    if (this.dialect === 'postgres') {
      let first: number | undefined;
      for (;;) {
        const [step] = (await tx.executeQuery<SealStep>(SEAL_STEP)).rows;
        const prevSeq = Number(step!.prev_seq);
        const head = { seq: Number(step!.last_seq), hash: step!.last_hash };
        first ??= prevSeq;
        await this.blocks.completed(tx, prevSeq, head.seq);
        if (step!.sealed < SEAL_BATCH) return { head, sealed: head.seq - first };
      }
    }
    const head = await this.lockHead(tx);
    const sealed = head.mustSeal ? await this.sealPending(tx, head) : head;
    return { head: sealed, sealed: sealed.seq - head.seq };
  }

  /**
   * Moves the pending events into the chain after `head`, oldest first, and returns the new
   * head (SQLite; PostgreSQL uses audit_seal). Runs under the head lock.
   */
  private async sealPending(tx: Kysely<any>, head: { seq: number; hash: string }): Promise<{ seq: number; hash: string }> {
    let current = head;
    for (;;) {
      const { rows: pending } = await this.selectPending.execute<Row & { id: number }>(tx);
      if (pending.length === 0) return current;
      const rows = chain(current, pending.map((row) => ({
        at: row.at as string,
        payload: row.payload as string,
        subject: subjectOf(row as Row),
      })));
      await this.insertChained(tx, current.seq, rows);
      for (const part of sizedParts(pending)) await this.deletePending(part.length).execute(tx, ...part.map((row) => row.id));
      const last = rows[rows.length - 1]!;
      current = { seq: last.seq, hash: last.hash };
      if (pending.length < SEAL_BATCH) return current;
    }
  }

  /**
   * Inserts chained rows after the head at `prevSeq`, moves the head to the last of them and
   * summarizes the blocks they complete (under the head lock).
   */
  private async insertChained(tx: Kysely<any>, prevSeq: number, rows: ChainedRow[]): Promise<void> {
    if (rows.length === 0) return;
    for (const part of sizedParts(rows)) {
      const values = part.flatMap((r) => [
        r.seq, r.at, r.subject.type, r.subject.tenantId, r.subject.requestId, r.subject.actor,
        r.subject.userId, r.subject.groupId, r.subject.target, r.payload, r.prevHash, r.hash,
      ]);
      await this.insertEvents(part.length).execute(tx, ...values);
    }
    const last = rows[rows.length - 1]!;
    await this.updateHead.execute(tx, last.seq, last.hash);
    await this.blocks.completed(tx, prevSeq, last.seq);
  }

  /** The INSERT of `size` chained events, compiled once per size (see INSERT_SIZES). */
  private insertEvents(size: number): QueryTemplate<unknown[]> {
    return this.insertRows('audit_events', EVENT_COLUMNS, size);
  }

  /** The INSERT of `size` pending events (record order), compiled once per size. */
  private insertPending(size: number): QueryTemplate<unknown[]> {
    return this.insertRows('audit_pending', PENDING_COLUMNS, size);
  }

  /** A multi-row INSERT of `size` rows into `table`, its values listed row by row in `columns` order. */
  private insertRows(table: string, columns: readonly string[], size: number): QueryTemplate<unknown[]> {
    return this.sized.get(`${table}\u0000${size}`, this.db, size * columns.length, (db, ...values) =>
      db.insertInto(table).values(Array.from({ length: size }, (_, r) =>
        Object.fromEntries(columns.map((column, c) => [column, values[r * columns.length + c]])))));
  }

  /** The DELETE of `size` pending events by id, compiled once per size. */
  private deletePending(size: number): QueryTemplate<unknown[]> {
    return this.sized.get(`delete\u0000${size}`, this.db, size, (db, ...ids) => db.deleteFrom('audit_pending').where('id', 'in', ids));
  }

  /** The current chain head; publishing it elsewhere (ticket, WORM bucket) anchors the whole chain. */
  async head(): Promise<{ seq: number; hash: string }> {
    const row = await this.db.selectFrom('audit_head').select(['last_seq', 'last_hash']).where('id', '=', 1).executeTakeFirstOrThrow();
    return { seq: Number(row.last_seq), hash: row.last_hash as string };
  }

  /** One page of events matching every given filter, in seq order; pass the last seq as `after` for the next page. */
  async query(filter: AuditQuery = {}): Promise<AuditEvent[]> {
    const limit = filter.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new RangeError(`limit must be 1..${MAX_PAGE}`);
    await this.seal();
    const rows = await this.select(filter, limit);
    return rows.map(toEvent);
  }

  /** Streams every matching event as JSON Lines, one batch per write; awaiting write gives backpressure. */
  async exportJsonl(filter: Omit<AuditQuery, 'limit'>, write: (chunk: string) => void | Promise<void>): Promise<number> {
    return this.exportBatches(filter, write, (rows) => rows.map((row) => `${JSON.stringify(toEvent(row))}\n`).join(''));
  }

  /** Streams every matching event as RFC 4180 CSV (header first; payload as its JSON text). */
  async exportCsv(filter: Omit<AuditQuery, 'limit'>, write: (chunk: string) => void | Promise<void>): Promise<number> {
    await write(`${EVENT_COLUMNS.join(',')}\r\n`);
    return this.exportBatches(filter, write, (rows) =>
      rows.map((row) => `${EVENT_COLUMNS.map((column) => csvField(column === 'seq' ? Number(row.seq) : row[column])).join(',')}\r\n`).join(''),
    );
  }

  /** The most recent checkpoint, or null when nothing was ever pruned. */
  async latestCheckpoint(executor: Kysely<any> = this.db): Promise<AuditCheckpoint | null> {
    const row = await executor.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirst();
    if (!row) return null;
    return { seq: Number(row.seq), hash: row.hash, at: row.at, prunedBefore: row.pruned_before, removed: Number(row.removed) };
  }

  /**
   * Deletes the oldest events, those before `before` up to the first event at or after it
   * (a prefix, so clock skew between writers never removes a newer event). Records a
   * checkpoint (seq and hash of the last removed event) and, in the same transaction, an
   * 'audit.pruned' event carrying that checkpoint, so the checkpoint is itself in the chain.
   * The chain is verified first: pruning must never erase the evidence of tampering.
   * The delete runs under the head lock (so no append sees a half-pruned chain), which
   * pauses writers meanwhile: prune often, or in steps of increasing `before`, not a year at once.
   */
  async prune(before: string, options: { actor?: string } = {}): Promise<{ removed: number; checkpoint: AuditCheckpoint | null }> {
    const prunedBefore = isoTime(before, 'prune');
    const check = await this.verify();
    if (!check.ok) throw new Error(`audit chain is broken at seq ${check.firstBad.seq} (${check.firstBad.reason}); refusing to prune`);
    return this.db.transaction().execute(async (tx) => {
      const head = await this.lockHead(tx);
      const [firstKept] = await this.select({ from: prunedBefore }, 1, tx);
      const lastPruned = firstKept ? Number(firstKept.seq) - 1 : head.seq;
      const floor = (await this.latestCheckpoint(tx))?.seq ?? 0;
      if (lastPruned <= floor) return { removed: 0, checkpoint: null };
      const last = await tx.selectFrom('audit_events').select('hash').where('seq', '=', lastPruned).executeTakeFirstOrThrow();
      const deleted = await tx.deleteFrom('audit_events').where('seq', '<=', lastPruned).executeTakeFirst();
      await this.blocks.pruned(tx, lastPruned);
      const checkpoint: AuditCheckpoint = {
        seq: lastPruned,
        hash: last.hash as string,
        at: this.clock().toISOString(),
        prunedBefore,
        removed: Number(deleted.numDeletedRows),
      };
      await tx
        .insertInto('audit_checkpoints')
        .values({ seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at, pruned_before: prunedBefore, removed: checkpoint.removed })
        .execute();
      await this.append(tx, {
        type: 'audit.pruned',
        actor: options.actor ?? 'system',
        payload: { checkpointSeq: checkpoint.seq, checkpointHash: checkpoint.hash, removed: checkpoint.removed, prunedBefore },
      });
      return { removed: checkpoint.removed, checkpoint };
    });
  }

  /** Prunes events older than the configured retention; a no-op when none is configured. */
  async applyRetention(): Promise<{ removed: number; checkpoint: AuditCheckpoint | null }> {
    if (this.retentionDays === undefined) return { removed: 0, checkpoint: null };
    return this.prune(new Date(this.clock().getTime() - this.retentionDays * 86_400_000).toISOString());
  }

  /**
   * Recomputes the chain from the latest checkpoint (or genesis) to the head in batches and
   * names the first event that is edited, missing, reordered, inserted or beyond the head.
   * Safe while others append. If a prune ran meanwhile, the check restarts from the new checkpoint.
   */
  async verify(options: { onProgress?: (progress: VerifyProgress) => void } = {}): Promise<VerifyResult> {
    // What is committed but not yet chained is chained first, so it is verified too.
    await this.seal();
    for (let attempt = 0; ; attempt += 1) {
      const checkpoint = await this.latestCheckpoint();
      const result = await this.verifyFrom(checkpoint, options.onProgress);
      if (result.ok || attempt === 2) return result;
      const now = await this.latestCheckpoint();
      if (now?.seq === checkpoint?.seq) return result;
    }
  }

  private async verifyFrom(checkpoint: AuditCheckpoint | null, onProgress?: (progress: VerifyProgress) => void): Promise<VerifyResult> {
    const started = performance.now();
    let prevHash = checkpoint?.hash ?? GENESIS_HASH;
    let lastSeq = checkpoint?.seq ?? 0;
    let events = 0;
    // Without a checkpoint there is nothing to attest; with one, an 'audit.pruned' event must carry it.
    let attested = checkpoint === null;
    const bad = (seq: number, reason: string): VerifyResult => ({ ok: false, firstBad: { seq, reason }, events });

    if (checkpoint) {
      const stray = await this.db.selectFrom('audit_events').select('seq').where('seq', '<=', checkpoint.seq).orderBy('seq').limit(1).executeTakeFirst();
      if (stray) return bad(Number(stray.seq), `event inside the pruned range (checkpoint is seq ${checkpoint.seq})`);
    }

    const fetch = (after: number) => {
      const rows = this.db.selectFrom('audit_events').selectAll().where('seq', '>', after).orderBy('seq').limit(this.batchSize).execute() as Promise<Row[]>;
      // A prefetch abandoned by an early return must not become an unhandled rejection; awaiting it still throws.
      rows.catch(() => undefined);
      return rows;
    };
    // Set when the head is ahead of the rows read so far: the next read must reach it.
    let mustReach = 0;
    let pending = fetch(lastSeq);
    for (;;) {
      const rows = await pending;
      // On PostgreSQL the next batch is read while this one is hashed.
      if (rows.length === this.batchSize) pending = fetch(Number(rows[rows.length - 1]!.seq));
      const leftOut = await this.blocks.coverage(this.db, Number(rows[0]?.seq ?? 1), Number(rows[rows.length - 1]?.seq ?? 0));
      for (const row of rows) {
        const seq = Number(row.seq);
        if (seq !== lastSeq + 1) return bad(lastSeq + 1, `event missing (next stored event is seq ${seq})`);
        if (row.prev_hash !== prevHash) {
          return bad(seq, `prev_hash does not match the hash of ${lastSeq === (checkpoint?.seq ?? 0) ? (checkpoint ? 'the checkpoint' : 'genesis') : `event ${lastSeq}`}`);
        }
        const hash = eventHash({ ...subjectOf(row as Row), seq, at: row.at as string, payload: row.payload as string, prevHash });
        if (hash !== row.hash) return bad(seq, 'hash does not match the event contents (edited)');
        const block = leftOut(seq, row as Row & StoredSubjects);
        if (block !== null) return bad(seq, `the summary of block ${block} leaves this event out (altered summary: queries would skip it)`);
        if (!attested && row.type === 'audit.pruned') {
          const p = JSON.parse(row.payload as string) as { checkpointSeq?: unknown; checkpointHash?: unknown };
          attested = p.checkpointSeq === checkpoint?.seq && p.checkpointHash === checkpoint?.hash;
        }
        prevHash = hash;
        lastSeq = seq;
        events += 1;
      }
      if (rows.length > 0) onProgress?.({ events, seq: lastSeq, eventsPerSecond: rate(events, started) });
      if (rows.length === this.batchSize) continue;
      if (lastSeq < mustReach) return bad(lastSeq + 1, `event missing (the chain head records seq ${mustReach})`);
      // Rows commit together with the head update, so a head read after the rows is never behind them.
      const head = await this.head();
      if (head.seq > lastSeq) {
        mustReach = head.seq;
        pending = fetch(lastSeq);
        continue;
      }
      if (head.seq < lastSeq) return bad(head.seq + 1, `event beyond the chain head (head records seq ${head.seq})`);
      if (head.hash !== prevHash) return bad(head.seq, 'hash differs from the one recorded in the chain head');
      break;
    }
    if (!attested && checkpoint) return bad(checkpoint.seq, 'checkpoint is not attested by an audit.pruned event in the chain');
    const ms = performance.now() - started;
    return { ok: true, events, ms, eventsPerSecond: rate(events, started), head: { seq: lastSeq, hash: prevHash }, checkpointSeq: checkpoint?.seq ?? null };
  }

  /** The locked head, and on SQLite whether pending events wait to be chained before anything new. */
  private async lockHead(tx: Kysely<any>): Promise<{ seq: number; hash: string; mustSeal: boolean }> {
    const [row] = (await this.selectHead.execute<{ last_seq: unknown; last_hash: string; pending?: number }>(tx)).rows;
    if (!row) throw new Error('audit_head has no row: the audit migrations did not run');
    return { seq: Number(row.last_seq), hash: row.last_hash, mustSeal: row.pending === 1 };
  }

  /**
   * Events matching `filter` in seq order. Without a filter the table is read by seq; with one,
   * the block summaries name the seq ranges that may hold matches (see AuditBlocks), and each
   * range is read with the full filter until `limit` rows are found.
   */
  private async select(filter: AuditQuery, limit: number, executor: Kysely<any> = this.db): Promise<Row[]> {
    const order = filter.order ?? 'asc';
    const types = filter.type === undefined ? undefined : Array.isArray(filter.type) ? filter.type : [filter.type];
    if (types?.length === 0) return [];
    const from = filter.from === undefined ? undefined : isoTime(filter.from, 'from');
    const to = filter.to === undefined ? undefined : isoTime(filter.to, 'to');
    const subjects = [
      ['tenant_id', filter.tenantId],
      ['user_id', filter.userId],
      ['group_id', filter.groupId],
      ['target', filter.target],
    ] as const;
    const read = (range: SeqRange, rows: number) => {
      let query = executor.selectFrom('audit_events').selectAll().where('seq', '>=', range.lo);
      if (range.hi !== Infinity) query = query.where('seq', '<=', range.hi);
      for (const [column, value] of subjects) if (value !== undefined) query = query.where(column, '=', value);
      if (filter.requestId !== undefined) query = query.where('request_id', '=', filter.requestId);
      if (types !== undefined) query = query.where('type', 'in', types);
      if (from !== undefined) query = query.where('at', '>=', from);
      if (to !== undefined) query = query.where('at', '<', to);
      return query.orderBy('seq', order).limit(rows).execute() as Promise<Row[]>;
    };
    const bounds: SeqRange = filter.after === undefined
      ? { lo: 1, hi: Infinity }
      : order === 'asc' ? { lo: filter.after + 1, hi: Infinity } : { lo: 1, hi: filter.after - 1 };
    const blockQuery: BlockQuery = {
      probes: subjects.flatMap(([column, value]) => (value === undefined ? [] : [subjectProbe(column, value)])),
      types: types === undefined ? null : typeMask(types),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
    };
    if (blockQuery.probes.length === 0 && blockQuery.types === null && from === undefined && to === undefined) return read(bounds, limit);
    const found: Row[] = [];
    for await (const range of this.blocks.ranges(executor, blockQuery, bounds, order)) {
      found.push(...(await read(range, limit - found.length)));
      if (found.length === limit) break;
    }
    return found;
  }

  private async exportBatches(
    filter: Omit<AuditQuery, 'limit'>,
    write: (chunk: string) => void | Promise<void>,
    format: (rows: Row[]) => string,
  ): Promise<number> {
    const pageSize = Math.min(this.batchSize, MAX_PAGE);
    await this.seal();
    let after = filter.after;
    let total = 0;
    for (;;) {
      const rows = await this.select({ ...filter, after }, pageSize);
      if (rows.length === 0) break;
      await write(format(rows));
      total += rows.length;
      after = Number(rows[rows.length - 1]!.seq);
      if (rows.length < pageSize) break;
    }
    return total;
  }
}

function rate(events: number, started: number): number {
  const seconds = (performance.now() - started) / 1000;
  return seconds > 0 ? Math.round(events / seconds) : events;
}
