import { setTimeout as sleep } from 'node:timers/promises';
import { CompiledQuery, type Kysely } from 'kysely';
import { escapesSavepoint } from './held-statements.ts';

/** Writes committed together at most. */
const MAX_BATCH = 64;
/** Attempts of a batch that met a transient failure (SQLite busy; a PostgreSQL deadlock or serialization failure). */
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

/** One holder at a time; the others wait in arrival order. */
class Turn {
  #last: Promise<void> = Promise.resolve();

  /** Resolves when the turn is the caller's, with the function that ends it (idempotent). */
  async take(): Promise<() => void> {
    let end!: () => void;
    const ended = new Promise<void>((resolve) => {
      end = resolve;
    });
    const before = this.#last;
    this.#last = before.then(() => ended);
    await before;
    return end;
  }
}

export interface GroupCommitOptions {
  /**
   * Batches begun and not yet committed, at most; each holds a connection. One runs its
   * statements while the others only wait for their COMMIT (PostgreSQL's WAL flush). 1 (the
   * default) makes each batch wait for the commit of the one before.
   */
  maxInFlight?: number;
}

/**
 * Group commit for both stores: writes that queue up while a transaction runs are run together
 * in the next one, each inside its own savepoint. A write that fails is rolled back to its
 * savepoint alone and its caller gets its error; the others commit. Every caller is answered
 * only after the commit that holds its write.
 *
 * SQLite runs one write transaction at a time on its one connection, and a commit costs more
 * than a SCIM write's statements. On PostgreSQL a transaction of one write costs the server
 * three to four times what the same write costs inside a shared one (its BEGIN, COMMIT and WAL
 * flush), and the client round trips: writes whose statements are all held (a POST's insert
 * and records) go out together with the COMMIT. There, one batch runs its statements at a time
 * while earlier ones wait for their COMMIT (maxInFlight), so the statements of this process's
 * writes never wait on each other's row locks in a cycle (concurrent transactions that lock two
 * groups in opposite orders deadlock, which PostgreSQL detects only after deadlock_timeout).
 * What goes out with a COMMIT only inserts, and upserts jobs in one order (OutboxSink): two
 * commits meet only over the same new keys (two batches creating the same two userNames in
 * opposite orders), a cycle PostgreSQL breaks, and the batch runs again. A held
 * statement's failure that a rollback to the failing write's savepoint cannot undo (an earlier
 * write's, escapesSavepoint) fails the batch, whose writes then run alone.
 *
 * The statements of a write run on this one thread between its awaits, so a transaction
 * started at once would always hold a single write. A batch therefore starts on the next turn
 * of the event loop (setImmediate), after every request that arrived in this turn has queued
 * its write.
 */
export class GroupCommit<V> {
  readonly #queue: Queued<V>[] = [];
  #draining = false;
  /** Batches begun and not yet committed. */
  #inFlight = 0;
  #slotFreed: (() => void) | undefined;
  /** Only one batch runs its writes' statements at a time; a batch past them only commits. */
  readonly #running = new Turn();
  readonly #maxInFlight: number;

  constructor(
    private readonly db: Kysely<any>,
    private readonly isTransient: (error: unknown) => boolean,
    private readonly hooks: GroupCommitHooks<V> = {},
    options: GroupCommitOptions = {},
  ) {
    this.#maxInFlight = Math.max(1, options.maxInFlight ?? 1);
  }

  /** Runs `run` in a transaction shared with other writes queued meanwhile; it may run again after a transient failure. */
  submit(run: (tx: Kysely<any>) => Promise<V>): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.#queue.push({ run, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  /**
   * Starts batches while writes wait: the next batch is taken from the queue once the one
   * before has run its statements (so it holds whatever queued meanwhile) and a slot is free.
   */
  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        while (this.#inFlight >= this.#maxInFlight) {
          await new Promise<void>((resolve) => {
            this.#slotFreed = resolve;
          });
        }
        const batch = this.#queue.splice(0, MAX_BATCH);
        this.#inFlight += 1;
        await new Promise<void>((ran) => {
          void this.#commit(batch, ran).finally(() => {
            this.#inFlight -= 1;
            const freed = this.#slotFreed;
            this.#slotFreed = undefined;
            freed?.();
            ran();
          });
        });
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Commits `batch`, answering each write; `ran` is called once its statements have run (the first time). */
  async #commit(batch: Queued<V>[], ran: () => void): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const outcomes = await this.#runTogether(batch, ran);
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
          for (const item of batch) await this.#commit([item], ran);
          return;
        }
        batch[0]!.reject(error);
        return;
      }
    }
  }

  /**
   * One transaction, one savepoint per write. A transient failure ends the whole transaction (the
   * batch is retried), as does a failure to roll back to a savepoint (the transaction is gone).
   *
   * The statements run in this instance's turn, which ends before the COMMIT: a batch that only
   * commits holds the locks it took but takes no more, save those of its held statements.
   */
  async #runTogether(batch: Queued<V>[], ran: () => void): Promise<Outcome<V>[]> {
    const endTurn = await this.#running.take();
    const end = () => {
      endTurn();
      ran();
    };
    try {
      return await this.db.transaction().execute(async (tx) => {
        const outcomes: Outcome<V>[] = [];
        for (const item of batch) {
          await tx.executeQuery(SAVEPOINT);
          try {
            const value = await item.run(tx);
            await tx.executeQuery(RELEASE);
            outcomes.push({ ok: true, value });
          } catch (error) {
            // Statements of earlier writes may have caused it: the batch fails, and its writes run alone.
            if (this.isTransient(error) || escapesSavepoint(error)) throw error;
            try {
              await tx.executeQuery(ROLLBACK_TO);
              await tx.executeQuery(RELEASE);
            } catch {
              // The database ended the transaction itself (SQLite on a full disk): the batch fails with the write's own error.
              throw error;
            }
            outcomes.push({ ok: false, error });
          }
        }
        const values = outcomes.flatMap((outcome) => (outcome.ok ? [outcome.value] : []));
        if (this.hooks.beforeCommit && values.length > 0) await this.hooks.beforeCommit(tx, values);
        end();
        return outcomes;
      });
    } finally {
      end();
    }
  }
}
