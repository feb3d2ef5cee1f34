import { sql, type Kysely } from 'kysely';
import { AUDIT_EVENT_TYPES } from './audit-event-types.ts';
import { BlockFilter, type Probe } from './block-filter.ts';

/**
 * Events per block: block b holds seqs b*1024+1 .. (b+1)*1024. Fixed, since stored summaries
 * depend on it.
 */
const BLOCK_EVENTS = 1024;

/** Blocks whose summaries are read per statement while planning a query. */
const WINDOW = 256;
/** Summaries kept in memory per log (about 1-3 KB each): repeated queries skip the reads. */
const CACHE_LIMIT = 4096;
/** Bit of a type this code does not know (written by a newer version): matches every type query. */
const UNKNOWN_TYPES = 0x7fffffff;

/**
 * The columns a block's filter covers. Not request_id: unique per request, it would double a
 * filter's keys (and the work of building it) for a query no API offers by default.
 */
export type SubjectColumn = 'tenant_id' | 'user_id' | 'group_id' | 'target';
const SUBJECT_COLUMNS: readonly SubjectColumn[] = ['tenant_id', 'user_id', 'group_id', 'target'];

/** The filter key of a subject value: columns share one filter, so each gets its own prefix. */
function subjectKey(column: SubjectColumn, value: string): string {
  return `${column}\u0000${value}`;
}

/** What a query or a check tests block filters with for one subject value. */
export function subjectProbe(column: SubjectColumn, value: string): Probe {
  return BlockFilter.probe(subjectKey(column, value));
}

function typeBit(type: string): number {
  const bit = (AUDIT_EVENT_TYPES as readonly string[]).indexOf(type);
  return bit < 0 ? UNKNOWN_TYPES : 1 << bit;
}

export function typeMask(types: readonly string[]): number {
  let mask = 0;
  for (const type of types) mask |= typeBit(type);
  return mask;
}

/** What a query asks of a block: every given part must be possible for the block to be read. */
export interface BlockQuery {
  probes: Probe[];
  types: number | null;
  from?: string;
  to?: string;
}

/** An inclusive seq range; hi is Infinity for "to the end of the log". */
export interface SeqRange {
  lo: number;
  hi: number;
}

/** The stored columns of an event that its block's summary covers. */
export type StoredSubjects = { type: string; at: string } & Record<SubjectColumn, string | null>;

interface Summary {
  minAt: string;
  maxAt: string;
  types: number;
  filter: BlockFilter | null;
}

const blockOf = (seq: number) => Math.floor((seq - 1) / BLOCK_EVENTS);
const firstSeq = (block: number) => block * BLOCK_EVENTS + 1;
const lastSeq = (block: number) => (block + 1) * BLOCK_EVENTS;

function matches(summary: Summary, query: BlockQuery): boolean {
  if (query.types !== null && (summary.types & query.types) === 0) return false;
  if (query.from !== undefined && summary.maxAt < query.from) return false;
  if (query.to !== undefined && summary.minAt >= query.to) return false;
  return query.probes.every((probe) => summary.filter!.mightHold(probe));
}

/**
 * Per-block summaries of the audit trail instead of per-event indexes. On the embedded store
 * those indexes made up about two thirds of what auditing added to a write (the user index put
 * each event on a random page, written twice through the WAL); a summary costs one row per
 * 1,024 events, written by the append that completes the block. A query by user, group,
 * target, tenant, type or time reads the summaries (cached here), skips the blocks that cannot
 * hold a match and reads the others by seq range; the open block (and any block without a
 * summary) is always read, so no event is ever missed.
 */
export class AuditBlocks {
  private readonly cache = new Map<number, Summary>();

  /**
   * Summarizes the blocks completed when the head moved from `prevSeq` to `headSeq`; runs in
   * the appending transaction, under the head lock.
   */
  async completed(tx: Kysely<any>, prevSeq: number, headSeq: number): Promise<void> {
    for (let block = Math.floor(prevSeq / BLOCK_EVENTS); block < Math.floor(headSeq / BLOCK_EVENTS); block++) await this.summarize(tx, block);
  }

  /**
   * Writes block `block`'s summary from its stored events (none left after a prune: no row).
   * The database reduces the block to its time span and distinct types and subjects, so a
   * block of request events, which name few subjects, returns a handful of rows, not 1,024.
   */
  async summarize(tx: Kysely<any>, block: number): Promise<void> {
    const inBlock = sql`from audit_events where seq between ${firstSeq(block)} and ${lastSeq(block)}`;
    const { rows } = await sql<{ c: string; v: string | null }>`
      select 'min' as c, min(at) as v ${inBlock}
      union all select 'max', max(at) ${inBlock}
      union all select distinct 'type', type ${inBlock}
      ${sql.join(SUBJECT_COLUMNS.map((column) => sql`union all select distinct ${column}, ${sql.ref(column)} ${inBlock} and ${sql.ref(column)} is not null`), sql` `)}`.execute(tx);
    const minAt = rows.find((r) => r.c === 'min')?.v;
    const maxAt = rows.find((r) => r.c === 'max')?.v;
    if (!minAt || !maxAt) return;
    const types: string[] = [];
    const keys: string[] = [];
    for (const { c, v } of rows) {
      if (c === 'type') types.push(v!);
      else if (c !== 'min' && c !== 'max') keys.push(subjectKey(c as SubjectColumn, v!));
    }
    const filter = BlockFilter.of(keys);
    await tx
      .insertInto('audit_blocks')
      .values({ block, min_at: minAt, max_at: maxAt, types: typeMask(types), filter: Buffer.from(filter.bytes) })
      .execute();
  }

  /** Removes the summaries of blocks wholly pruned (every seq up to `seq` is gone). */
  async pruned(tx: Kysely<any>, seq: number): Promise<void> {
    const below = Math.floor(seq / BLOCK_EVENTS);
    await tx.deleteFrom('audit_blocks').where('block', '<', below).execute();
    for (const block of this.cache.keys()) if (block < below) this.cache.delete(block);
  }

  /**
   * The seq ranges, within `bounds` and in `order`, of the blocks that may hold events matching
   * `query`: adjacent readable blocks merge into one range.
   */
  async *ranges(executor: Kysely<any>, query: BlockQuery, bounds: SeqRange, order: 'asc' | 'desc'): AsyncGenerator<SeqRange> {
    if (bounds.lo > bounds.hi) return;
    const span = await executor.selectFrom('audit_blocks').select((eb) => [eb.fn.min('block').as('first'), eb.fn.max('block').as('last')]).executeTakeFirst();
    const first = span?.first === null || span?.first === undefined ? null : Number(span.first);
    const last = span?.last === null || span?.last === undefined ? null : Number(span.last);
    const lowBlock = blockOf(bounds.lo);
    const highBlock = bounds.hi === Infinity ? Infinity : blockOf(bounds.hi);
    const clip = (range: SeqRange): SeqRange => ({ lo: Math.max(range.lo, bounds.lo), hi: Math.min(range.hi, bounds.hi) });
    if (first === null || last === null || highBlock < first || lowBlock > last) {
      yield bounds;
      return;
    }
    // Before the first summary and after the last one nothing is known: those parts are read whole.
    const before: SeqRange | null = lowBlock < first ? { lo: bounds.lo, hi: lastSeq(first - 1) } : null;
    const after: SeqRange | null = highBlock > last ? { lo: firstSeq(last + 1), hi: bounds.hi } : null;
    const from = Math.max(lowBlock, first);
    const to = Math.min(highBlock, last);

    let run: SeqRange | null = null;
    const take = function* (range: SeqRange | null): Generator<SeqRange> {
      if (range === null) {
        if (run) yield run;
        run = null;
      } else if (!run) run = range;
      else if (order === 'asc') run = { lo: run.lo, hi: range.hi };
      else run = { lo: range.lo, hi: run.hi };
    };

    yield* take(order === 'asc' ? before : after);
    for (let w = 0; w <= to - from; w += WINDOW) {
      const a = order === 'asc' ? from + w : Math.max(from, to - w - WINDOW + 1);
      const b = order === 'asc' ? Math.min(to, a + WINDOW - 1) : to - w;
      const summaries = await this.read(executor, a, b, query.probes.length > 0);
      for (let i = 0; i <= b - a; i++) {
        const block = order === 'asc' ? a + i : b - i;
        const summary = summaries.get(block);
        yield* take(summary && !matches(summary, query) ? null : clip({ lo: firstSeq(block), hi: lastSeq(block) }));
      }
    }
    yield* take(order === 'asc' ? after : before);
    yield* take(null);
  }

  /** Summaries of blocks a..b, from the cache when it holds them all. */
  private async read(executor: Kysely<any>, a: number, b: number, withFilters: boolean): Promise<Map<number, Summary>> {
    const found = new Map<number, Summary>();
    for (let block = a; block <= b; block++) {
      const cached = this.cache.get(block);
      if (!cached) break;
      found.set(block, cached);
    }
    if (found.size === b - a + 1) return found;
    const stored = await this.stored(executor, a, b, withFilters);
    if (withFilters) for (const [block, summary] of stored) this.remember(block, summary);
    return stored;
  }

  /** The stored summaries of blocks a..b, read from the database (never the cache). */
  private async stored(executor: Kysely<any>, a: number, b: number, withFilters: boolean): Promise<Map<number, Summary>> {
    const rows = await executor
      .selectFrom('audit_blocks')
      .select(['block', 'min_at', 'max_at', 'types'])
      .$if(withFilters, (q) => q.select('filter'))
      .where('block', '>=', a)
      .where('block', '<=', b)
      .execute();
    return new Map(rows.map((row) => [Number(row.block), {
      minAt: row.min_at,
      maxAt: row.max_at,
      types: Number(row.types),
      filter: withFilters ? BlockFilter.from(row.filter as Uint8Array) : null,
    }]));
  }

  /**
   * For `audit verify`: a checker of stored events (seqs first..last) against their blocks'
   * stored summaries, read once. A summary that leaves out one of its block's events (its type,
   * time or a subject) would hide that event from queries: the checker then answers the block.
   */
  async coverage(executor: Kysely<any>, first: number, last: number): Promise<(seq: number, event: StoredSubjects) => number | null> {
    const summaries = first > last ? new Map<number, Summary>() : await this.stored(executor, blockOf(first), blockOf(last), true);
    return (seq, event) => {
      const block = blockOf(seq);
      const summary = summaries.get(block);
      if (!summary) return null;
      const covers = (summary.types & typeBit(event.type)) !== 0 && event.at >= summary.minAt && event.at <= summary.maxAt
        && SUBJECT_COLUMNS.every((column) => event[column] === null || summary.filter!.mightHold(subjectProbe(column, event[column])));
      return covers ? null : block;
    };
  }

  private remember(block: number, summary: Summary): void {
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(block, summary);
  }
}
