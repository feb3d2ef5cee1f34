import { setTimeout as sleep } from 'node:timers/promises';
import { CompiledQuery, type Kysely } from 'kysely';

/** Writes committed together at most. */
const MAX_BATCH = 64;
/** Attempts of a batch that met a busy database (another process holding SQLite's write lock). */
const MAX_ATTEMPTS = 5;

/** Run for every write: compiled once. */
const SAVEPOINT = CompiledQuery.raw('SAVEPOINT rc_write');
const RELEASE = CompiledQuery.raw('RELEASE rc_write');
const ROLLBACK_TO = CompiledQuery.raw('ROLLBACK TO rc_write');

interface Queued<V> {
  run: (tx: Kysely<any>) => Promise<V>;
  resolve: (value: V) => void;
  reject: (error: unknown) => void;
}

type Outcome<V> = { ok: true; value: V } | { ok: false; error: unknown };

export interface GroupCommitHooks<V> {
  /** The last statements of a transaction, given what its successful writes returned: a failure fails them all. */
  beforeCommit?: (tx: Kysely<any>, values: readonly V[]) => Promise<void>;
  afterCommit?: () => void;
}

/**
 * Group commit for the embedded store. SQLite runs one write transaction at a time on its one
 * connection, and a commit costs more than a SCIM write's statements; so writes that queue up
 * while a transaction runs are run together in the next one, each inside its own savepoint. A
 * write that fails is rolled back to its savepoint alone and its caller gets its error; the
 * others commit. Every caller is answered only after the commit that holds its write.
 *
 * The statements run synchronously on this one thread, so a transaction started at once would
 * always hold a single write: no other request gets to run until it commits. A batch therefore
 * starts on the next turn of the event loop (setImmediate), after every request that arrived
 * in this turn has queued its write.
 */
export class GroupCommit<V> {
  readonly #queue: Queued<V>[] = [];
  #draining = false;

  constructor(
    private readonly db: Kysely<any>,
    private readonly isTransient: (error: unknown) => boolean,
    private readonly hooks: GroupCommitHooks<V> = {},
  ) {}

  /** Runs `run` in a transaction shared with other writes queued meanwhile; it may run again after a busy database. */
  submit(run: (tx: Kysely<any>) => Promise<V>): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.#queue.push({ run, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#commit(this.#queue.splice(0, MAX_BATCH));
    } finally {
      this.#draining = false;
    }
  }

  async #commit(batch: Queued<V>[]): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const outcomes = await this.#runTogether(batch);
        this.hooks.afterCommit?.();
        batch.forEach((item, i) => {
          const outcome = outcomes[i]!;
          if (outcome.ok) item.resolve(outcome.value);
          else item.reject(outcome.error);
        });
        return;
      } catch (error) {
        if (this.isTransient(error) && attempt < MAX_ATTEMPTS) {
          await sleep(Math.random() * 20 * attempt);
          continue;
        }
        // Nothing of the batch was written. One write must not fail the others: each runs alone.
        if (batch.length > 1) {
          for (const item of batch) await this.#commit([item]);
          return;
        }
        batch[0]!.reject(error);
        return;
      }
    }
  }

  /**
   * One transaction, one savepoint per write. A busy database ends the whole transaction (the
   * batch is retried), as does a failure to roll back to a savepoint (the transaction is gone).
   */
  async #runTogether(batch: Queued<V>[]): Promise<Outcome<V>[]> {
    return this.db.transaction().execute(async (tx) => {
      const outcomes: Outcome<V>[] = [];
      for (const item of batch) {
        await tx.executeQuery(SAVEPOINT);
        try {
          const value = await item.run(tx);
          await tx.executeQuery(RELEASE);
          outcomes.push({ ok: true, value });
        } catch (error) {
          if (this.isTransient(error)) throw error;
          try {
            await tx.executeQuery(ROLLBACK_TO);
            await tx.executeQuery(RELEASE);
          } catch {
            // SQLite ended the transaction itself (e.g. disk full): the batch fails with the write's own error.
            throw error;
          }
          outcomes.push({ ok: false, error });
        }
      }
      const values = outcomes.flatMap((outcome) => (outcome.ok ? [outcome.value] : []));
      if (this.hooks.beforeCommit && values.length > 0) await this.hooks.beforeCommit(tx, values);
      return outcomes;
    });
  }
}
