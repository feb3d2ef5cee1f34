import { CompiledQuery, type Kysely } from 'kysely';

/** Entries kept at most per map; past that the map starts over. */
const MAX_ENTRIES = 1000;

const DATA_VERSION = CompiledQuery.raw('PRAGMA data_version');

/**
 * SQLite's data_version of `db`'s connection: it changes whenever another connection (a CLI
 * command beside the server) commits to the file, never for this connection's own commits, so
 * callers pair it with a count of their own writes.
 */
export async function sqliteDataVersion(db: Kysely<any>): Promise<number | undefined> {
  const { rows } = await db.executeQuery<{ data_version: number }>(DATA_VERSION);
  return rows[0]?.data_version;
}

/**
 * A map whose entries hold only while the data's version (`token`) stays the one they were
 * computed under: adopting another token drops everything, and a value computed under an older
 * token is never stored, so a write that lands between reading and storing never leaves a
 * stale entry behind.
 */
export class VersionedMap<V> {
  #token: string | undefined;
  readonly #entries = new Map<string, V>();

  /** Makes `token` the current version, dropping what was stored under another. */
  adopt(token: string): void {
    if (token === this.#token) return;
    this.#token = token;
    this.#entries.clear();
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  set(token: string, key: string, value: V): void {
    if (token !== this.#token) return;
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    this.#entries.set(key, value);
  }
}

/** Rows between position samples: a deep page walks at most this many ids past its sample. */
export const SAMPLE_EVERY = 1000;

/**
 * Deep pages read without a known position under one version before the samples are built:
 * at first 2, doubled (up to 64) each time samples were dropped by a write before they served
 * PAYOFF_USES pages, so data that changes between every few deep reads stops paying for them.
 */
const MIN_MISSES = 2;
const MAX_MISSES = 64;
/** Pages samples must serve to repay their window query (about 20-30 deep pages' worth). */
const PAYOFF_USES = 30;

/**
 * What list pages learn about a result, kept while the data is known not to have changed:
 * totals (so a page needs no COUNT), per result the id ending each page served (so the next
 * page continues after it instead of walking an OFFSET), and position samples (the id at every
 * SAMPLE_EVERY-th position, so a page anywhere walks at most that far). `token` names the
 * data's version; a different token drops everything. Only a store that can tell cheaply
 * whether anything was written since, by any process, has one: the embedded store (any write)
 * and PostgreSQL (only inserts and deletes, from the kept counts: `seesUpdates` false, so only
 * results no update can change, unfiltered lists in id order, use it); see KyselyResourceStore.
 */
export class ReadCache {
  readonly #counts = new VersionedMap<number>();
  readonly #cursors = new VersionedMap<string>();
  readonly #samples = new VersionedMap<readonly string[]>();
  /** Sampling under the current token: deep pages read without a position, samples built and their uses. */
  #sampling = { token: '', misses: 0, built: false, uses: 0, threshold: MIN_MISSES };

  constructor(
    private readonly currentToken: () => Promise<string>,
    /** Whether the token moves on updates too, not only on inserts and deletes. */
    readonly seesUpdates = true,
  ) {}

  /** Reads the data's version, dropping what was cached under another; pass it back to the setters. */
  async validate(): Promise<string> {
    const token = await this.currentToken();
    this.#counts.adopt(token);
    this.#cursors.adopt(token);
    this.#samples.adopt(token);
    if (token !== this.#sampling.token) {
      const last = this.#sampling;
      const threshold = !last.built ? last.threshold : last.uses >= PAYOFF_USES ? MIN_MISSES : Math.min(last.threshold * 2, MAX_MISSES);
      this.#sampling = { token, misses: 0, built: false, uses: 0, threshold };
    }
    return token;
  }

  count(key: string): number | undefined {
    return this.#counts.get(key);
  }

  setCount(token: string, key: string, total: number): void {
    this.#counts.set(token, key, total);
  }

  /** The id of the row just before position `offset` (0-based) of result `key`, when a page ended there. */
  cursor(key: string, offset: number): string | undefined {
    return this.#cursors.get(`${offset}\u0000${key}`);
  }

  setCursor(token: string, key: string, offset: number, id: string): void {
    this.#cursors.set(token, `${offset}\u0000${key}`, id);
  }

  /** `ids[i]`: the id at position (i + 1) * SAMPLE_EVERY - 1 of result `key`, when sampled. */
  samples(key: string): readonly string[] | undefined {
    const ids = this.#samples.get(key);
    if (ids) this.#sampling.uses += 1;
    return ids;
  }

  setSamples(token: string, key: string, ids: readonly string[]): void {
    this.#samples.set(token, key, ids);
    if (token === this.#sampling.token) this.#sampling.built = true;
  }

  /**
   * Counts a deep page read without a known position under `token`; true once sampling is
   * expected to pay (see MIN_MISSES): a single deep page walks less than sampling reads.
   */
  shouldSample(token: string): boolean {
    if (token !== this.#sampling.token) return false;
    this.#sampling.misses += 1;
    return this.#sampling.misses >= this.#sampling.threshold;
  }
}
