import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { Database } from '../directory/database.ts';
import { QueryTemplate } from '../directory/query-template.ts';
import { chunks } from '../domain/chunks.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { enqueueJobs, inPrincipalOrder } from './enqueue-jobs.ts';
import type { AttemptOutcome, Job, JobAttempt, JobState, Principal } from './job.ts';
import type { StepResult } from './target.ts';

export interface JobQueueOptions {
  /** Runs before a job is dead-lettered. Default 10. */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** How long a claim is valid without renewal; an expired lease makes the job claimable again. Default 30 s. */
  leaseMs?: number;
  /** Injectable clock. All instances sharing a PostgreSQL store must agree on time to well within leaseMs. */
  clock?: () => Date;
}

/** What one run of a job came to, as the worker reports it. */
export interface AttemptReport {
  startedAt: Date;
  /** retry is turned into dead once attempts reach maxAttempts. */
  outcome: 'done' | 'retry' | 'dead';
  error?: string;
  results: StepResult[];
}

/** A job's state after finishMany(); 'lost' when the lease had expired and the job was taken over. */
export type FinishState = JobState | 'lost';

export interface ListJobsFilter {
  state?: JobState;
  /** Only jobs whose last run failed (queued for retry, dead, or superseded after a failure). */
  failedOnly?: boolean;
  target?: string;
  tenantId?: string;
  userId?: string;
  /** Default 1000, newest first. */
  limit?: number;
}

/**
 * The durable job queue over the store database (state machine in job.ts).
 *
 * Claiming: PostgreSQL takes rows with FOR UPDATE SKIP LOCKED, so several Rolecall processes can
 * share one store; SQLite has one writer and one owning process, so the same single
 * UPDATE ... RETURNING is atomic there. A claim never takes a principal that has a running job:
 * together with "at most one queued job per principal" this means one principal never runs twice
 * at once. A claim holds a lease (`locked_until`) that the worker renews; recover() turns jobs
 * whose lease lapsed (crashed or killed process) back into queued ones.
 */
export class JobQueue {
  readonly maxAttempts: number;
  readonly leaseMs: number;
  private readonly db: Kysely<any>;
  private readonly postgres: boolean;
  private readonly clock: () => Date;
  private readonly backoff: BackoffOptions;
  /** The worker pool claims after every commit and finished batch: compiled once (see QueryTemplate). */
  private readonly claimDue: QueryTemplate<[string, string, number, string, string]>;

  constructor(database: Database, options: JobQueueOptions = {}) {
    this.db = database.db;
    this.postgres = database.dialect === 'postgres';
    this.claimDue = new QueryTemplate(database.db, 5, (db, now, target, limit, workerId, until) =>
      this.claimQuery(db, now, target, workerId, until, (q) => q.limit(limit as number)));
    this.maxAttempts = options.maxAttempts ?? 10;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.clock = options.clock ?? (() => new Date());
    this.backoff = options.backoff ?? {};
  }

  /** Queues jobs outside a SCIM write (full reconcile, admin action); coalesces like the outbox. */
  enqueue(principals: Principal[]): Promise<void> {
    return enqueueJobs(this.db, principals, this.clock());
  }

  /**
   * Claims up to `limit` due jobs of one target (or the queued jobs of these users of a tenant
   * on it, at most 500 at once) for `workerId`, oldest due first. Each claim counts as an attempt.
   */
  async claim(workerId: string, scope: { target: string; limit: number } | { target: string; tenantId: string; userIds: string[] }): Promise<Job[]> {
    if ('userIds' in scope && scope.userIds.length === 0) return [];
    const now = this.clock();
    const until = new Date(now.getTime() + this.leaseMs).toISOString();
    const rows = 'userIds' in scope
      ? await this.claimQuery(this.db, now.toISOString(), scope.target, workerId, until, (q) =>
        q.where('j.tenant_id', '=', scope.tenantId).where('j.user_id', 'in', scope.userIds).limit(scope.userIds.length)).execute()
      : (await this.claimDue.execute<Record<string, unknown>>(this.db, now.toISOString(), scope.target, scope.limit, workerId, until)).rows;
    return rows.map(toJob).sort((a, b) => a.id - b.id);
  }

  /**
   * The claim: due queued jobs of a target whose principal has no running job, oldest first,
   * taken in one UPDATE ... RETURNING (FOR UPDATE SKIP LOCKED on PostgreSQL).
   */
  private claimQuery(db: Kysely<any>, now: unknown, target: unknown, workerId: unknown, until: unknown, narrow: (q: SelectQueryBuilder<any, any, { id: unknown }>) => SelectQueryBuilder<any, any, { id: unknown }>) {
    const due = narrow(db
      .selectFrom('jobs as j')
      .select('j.id')
      .where('j.state', '=', 'queued')
      .where('j.run_after', '<=', now)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('jobs as r')
              .select(sql`1`.as('one'))
              .where('r.state', '=', 'running')
              .whereRef('r.tenant_id', '=', 'j.tenant_id')
              .whereRef('r.user_id', '=', 'j.user_id')
              .whereRef('r.target', '=', 'j.target'),
          ),
        ),
      )
      .where('j.target', '=', target))
      .orderBy('j.run_after')
      .orderBy('j.id')
      .$if(this.postgres, (q) => q.forUpdate().skipLocked());
    return db
      .updateTable('jobs')
      .set({ state: 'running', attempts: sql`attempts + 1`, locked_by: workerId, locked_until: until, updated_at: now })
      .where('id', 'in', due)
      .returningAll();
  }

  /** Extends the leases of jobs this worker still holds; returns the ids it no longer holds. */
  async renew(workerId: string, jobIds: number[]): Promise<number[]> {
    if (jobIds.length === 0) return [];
    const until = new Date(this.clock().getTime() + this.leaseMs).toISOString();
    const held = await this.db
      .updateTable('jobs')
      .set({ locked_until: until })
      .where('id', 'in', jobIds)
      .where('state', '=', 'running')
      .where('locked_by', '=', workerId)
      .returning('id')
      .execute();
    const kept = new Set(held.map((r) => Number(r.id)));
    return jobIds.filter((id) => !kept.has(id));
  }

  /**
   * Records each job's attempt and moves it on: done, queued again after a backoff delay, or
   * dead; 'lost' (and nothing else) for a job this worker no longer holds. One transaction: the
   * jobs that succeeded are closed and their attempts recorded with a few statements for all of
   * them, the others one by one. Returns each job's state, in order.
   */
  finishMany(items: { job: Job; report: AttemptReport }[], workerId: string): Promise<FinishState[]> {
    return this.inTransaction(async (tx) => {
      const now = this.clock();
      const states = new Map<number, FinishState>();
      const succeeded = items.filter((item) => item.report.outcome === 'done');
      for (const part of chunks(succeeded)) {
        const closed = await tx
          .updateTable('jobs')
          .set({ state: 'done', locked_by: null, locked_until: null, last_error: null, updated_at: now.toISOString() })
          .where('id', 'in', part.map((item) => item.job.id))
          .where('state', '=', 'running')
          .where('locked_by', '=', workerId)
          .returning('id')
          .execute();
        const held = new Set(closed.map((row) => Number(row.id)));
        const attempted = part.filter((item) => held.has(item.job.id));
        const numbers = await this.nextAttemptNumbers(tx, attempted.map((item) => item.job.id));
        if (attempted.length > 0) {
          await tx
            .insertInto('job_attempts')
            .values(attempted.map(({ job, report }) => ({
              job_id: job.id,
              attempt: numbers.get(job.id)!,
              worker: workerId,
              started_at: report.startedAt.toISOString(),
              finished_at: now.toISOString(),
              outcome: 'done',
              error: report.error ?? null,
              results: JSON.stringify(report.results),
            })))
            .execute();
        }
        for (const item of part) states.set(item.job.id, held.has(item.job.id) ? 'done' : 'lost');
      }
      // Requeues take principals' queued slots: in the order enqueueJobs takes them (no deadlock with a SCIM write's upserts).
      const unfinished = inPrincipalOrder(items.filter((item) => item.report.outcome !== 'done'), (item) => item.job);
      for (const { job, report } of unfinished) states.set(job.id, await this.finishOne(tx, job, workerId, report, now));
      return items.map((item) => states.get(item.job.id)!);
    });
  }

  private async finishOne(tx: Kysely<any>, job: Job, workerId: string, report: AttemptReport, now: Date): Promise<FinishState> {
    const held = await tx
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', job.id)
      .where('state', '=', 'running')
      .where('locked_by', '=', workerId)
      .$if(this.postgres, (q) => q.forUpdate())
      .executeTakeFirst();
    if (!held) return 'lost';
    const current = toJob(held);
    const exhausted = report.outcome === 'retry' && current.attempts >= this.maxAttempts;
    const outcome: AttemptOutcome = exhausted ? 'dead' : report.outcome;
    const error =
      exhausted && report.error !== undefined ? `${report.error} (gave up after ${current.attempts} attempts)` : report.error ?? null;
    await this.recordAttempt(tx, current, workerId, report.startedAt, now, outcome, error, report.results);
    if (outcome === 'retry') {
      const runAfter = new Date(now.getTime() + backoffDelay(current.attempts, this.backoff));
      return this.requeue(tx, current, runAfter, error, now);
    }
    await this.setState(tx, current.id, outcome, error, now);
    return outcome;
  }

  /**
   * Recovers jobs whose lease lapsed: their worker crashed, was killed, or lost the database.
   * Each gets an 'expired' attempt and is queued again after backoff (dead once attempts are
   * exhausted, so a job that crashes its process every time cannot loop forever).
   * `all` also takes unexpired leases: for the embedded store, whose single owning process
   * knows at start-up that every running job belongs to a dead predecessor.
   */
  async recover(options: { all?: boolean } = {}): Promise<number> {
    return this.inTransaction(async (tx) => {
      const now = this.clock();
      const rows = await tx
        .selectFrom('jobs')
        .selectAll()
        .where('state', '=', 'running')
        .$if(!options.all, (q) => q.where('locked_until', '<', now.toISOString()))
        .$if(this.postgres, (q) => q.forUpdate().skipLocked())
        .execute();
      for (const job of inPrincipalOrder(rows.map(toJob), (j) => j)) {
        const exhausted = job.attempts >= this.maxAttempts;
        const error = `lease of ${job.lockedBy ?? 'unknown worker'} expired at ${job.lockedUntil ?? '?'}${exhausted ? ` (gave up after ${job.attempts} attempts)` : ''}`;
        // The claim time is the last updated_at (lease renewals do not touch it).
        await this.recordAttempt(tx, job, job.lockedBy ?? 'unknown', new Date(job.updatedAt), now, 'expired', error, []);
        if (exhausted) await this.setState(tx, job.id, 'dead', error, now);
        else await this.requeue(tx, job, new Date(now.getTime() + backoffDelay(job.attempts, this.backoff)), error, now);
      }
      return rows.length;
    });
  }

  /**
   * Dead-letters queued jobs of targets no longer in the policy (no worker would ever claim
   * them), so they show up with a reason instead of waiting unseen. retryAll() revives them if
   * the target comes back.
   */
  async abandonUnknownTargets(known: string[]): Promise<number> {
    const now = this.clock().toISOString();
    const result = await this.db
      .updateTable('jobs')
      .set({ state: 'dead', last_error: sql`'target "' || target || '" is not in the policy'`, updated_at: now })
      .where('state', '=', 'queued')
      .$if(known.length > 0, (q) => q.where('target', 'not in', known))
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Deletes finished jobs (done, not dead) last updated before `before`, with their attempts. */
  async purgeDone(before: Date): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      const old = tx.selectFrom('jobs').select('id').where('state', '=', 'done').where('updated_at', '<', before.toISOString());
      // Explicitly, not only by ON DELETE CASCADE: SQLite enforces foreign keys only when enabled per connection.
      await tx.deleteFrom('job_attempts').where('job_id', 'in', old).execute();
      const result = await tx.deleteFrom('jobs').where('state', '=', 'done').where('updated_at', '<', before.toISOString()).executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  /** Queues a dead job again with its attempts reset. False if it is not dead. */
  async retry(id: number): Promise<boolean> {
    return this.inTransaction(async (tx) => {
      const row = await tx
        .selectFrom('jobs')
        .selectAll()
        .where('id', '=', id)
        .where('state', '=', 'dead')
        .$if(this.postgres, (q) => q.forUpdate())
        .executeTakeFirst();
      if (!row) return false;
      const now = this.clock();
      await this.requeue(tx, { ...toJob(row), attempts: 0 }, now, toJob(row).lastError, now, { expedite: true });
      return true;
    });
  }

  /** Queues every dead job again (one per principal; older duplicates are marked superseded). */
  async retryAll(): Promise<number> {
    const dead = await this.db.selectFrom('jobs').select('id').where('state', '=', 'dead').orderBy('id', 'desc').execute();
    let retried = 0;
    for (const { id } of dead) if (await this.retry(Number(id))) retried++;
    return retried;
  }

  async listJobs(filter: ListJobsFilter = {}): Promise<Job[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .selectAll()
      .$if(filter.state !== undefined, (q) => q.where('state', '=', filter.state!))
      .$if(filter.failedOnly === true, (q) => q.where('last_error', 'is not', null))
      .$if(filter.target !== undefined, (q) => q.where('target', '=', filter.target!))
      .$if(filter.tenantId !== undefined, (q) => q.where('tenant_id', '=', filter.tenantId!))
      .$if(filter.userId !== undefined, (q) => q.where('user_id', '=', filter.userId!))
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 1000)
      .execute();
    return rows.map(toJob);
  }

  async getJob(id: number): Promise<Job | undefined> {
    const row = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toJob(row) : undefined;
  }

  /** Every recorded run of a job, first to last. */
  async attempts(jobId: number): Promise<JobAttempt[]> {
    const rows = await this.db.selectFrom('job_attempts').selectAll().where('job_id', '=', jobId).orderBy('attempt').execute();
    return rows.map((r) => ({
      jobId: Number(r.job_id),
      attempt: Number(r.attempt),
      worker: r.worker,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      outcome: r.outcome,
      error: r.error ?? null,
      results: typeof r.results === 'string' ? JSON.parse(r.results) : r.results,
    }));
  }

  /** Counts per state, for metrics and health. */
  async counts(): Promise<Record<JobState, number>> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['state', (eb) => eb.fn.countAll().as('n')])
      .groupBy('state')
      .execute();
    const counts: Record<JobState, number> = { queued: 0, running: 0, done: 0, dead: 0 };
    for (const r of rows) counts[r.state as JobState] = Number(r.n);
    return counts;
  }

  /**
   * Open jobs per target and state for the metrics gauge; `failed` counts queued jobs whose last
   * run failed (waiting for a retry). Finished jobs are history, not load, and are left out.
   */
  async countsByTarget(): Promise<{ target: string; state: string; count: number }[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['target', 'state', (eb) => eb.fn.countAll().as('n'), (eb) => eb.fn.count('last_error').as('failed')])
      .where('state', '!=', 'done')
      .groupBy(['target', 'state'])
      .execute();
    return rows.flatMap((r) => {
      const out = [{ target: String(r.target), state: String(r.state), count: Number(r.n) }];
      if (r.state === 'queued') out.push({ target: String(r.target), state: 'failed', count: Number(r.failed) });
      return out;
    });
  }

  /**
   * Puts a job back in the queue. If the principal already has a queued job (a change arrived
   * meanwhile), that job covers this one: it inherits the later run time and the higher attempt
   * count, so backoff and dead-lettering still hold, and this job is closed as superseded.
   * `expedite` (an operator's retry) makes the covering job due at `runAfter` instead.
   */
  private async requeue(tx: Kysely<any>, job: Job, runAfter: Date, error: string | null, now: Date, options: { expedite?: boolean } = {}): Promise<JobState> {
    const sibling = await tx
      .selectFrom('jobs')
      .select(['id', 'attempts', 'run_after'])
      .where('state', '=', 'queued')
      .where('tenant_id', '=', job.tenantId)
      .where('user_id', '=', job.userId)
      .where('target', '=', job.target)
      .$if(this.postgres, (q) => q.forUpdate())
      .executeTakeFirst();
    if (!sibling) {
      await tx
        .updateTable('jobs')
        .set({ state: 'queued', attempts: job.attempts, run_after: runAfter.toISOString(), locked_by: null, locked_until: null, last_error: error, updated_at: now.toISOString() })
        .where('id', '=', job.id)
        .execute();
      return 'queued';
    }
    const siblingRunAfter = new Date(sibling.run_after);
    await tx
      .updateTable('jobs')
      .set({
        attempts: Math.max(Number(sibling.attempts), job.attempts),
        run_after: (siblingRunAfter > runAfter && !options.expedite ? siblingRunAfter : runAfter).toISOString(),
        last_error: error,
        updated_at: now.toISOString(),
      })
      .where('id', '=', sibling.id)
      .execute();
    await this.setState(tx, job.id, 'done', `${error ?? 'requeued'}; superseded by queued job ${sibling.id}`, now);
    return 'done';
  }

  private async setState(tx: Kysely<any>, id: number, state: JobState, error: string | null, now: Date): Promise<void> {
    await tx
      .updateTable('jobs')
      .set({ state, locked_by: null, locked_until: null, last_error: error, updated_at: now.toISOString() })
      .where('id', '=', id)
      .execute();
  }

  private async recordAttempt(
    tx: Kysely<any>,
    job: Job,
    worker: string,
    startedAt: Date,
    finishedAt: Date,
    outcome: AttemptOutcome,
    error: string | null,
    results: StepResult[],
  ): Promise<void> {
    const numbers = await this.nextAttemptNumbers(tx, [job.id]);
    await tx
      .insertInto('job_attempts')
      .values({
        job_id: job.id,
        attempt: numbers.get(job.id)!,
        worker,
        started_at: startedAt.toISOString(),
        finished_at: finishedAt.toISOString(),
        outcome,
        error,
        results: JSON.stringify(results),
      })
      .execute();
  }

  /** The number of each job's next attempt: numbered per job across retries (retry() resets the job's count, not its history). */
  private async nextAttemptNumbers(tx: Kysely<any>, jobIds: number[]): Promise<Map<number, number>> {
    const next = new Map(jobIds.map((id) => [id, 1]));
    if (jobIds.length === 0) return next;
    const rows = await tx
      .selectFrom('job_attempts')
      .select(['job_id', (eb) => eb.fn.max('attempt').as('n')])
      .where('job_id', 'in', jobIds)
      .groupBy('job_id')
      .execute();
    for (const row of rows) next.set(Number(row.job_id), Number(row.n) + 1);
    return next;
  }

  /**
   * A queued-job uniqueness race with a concurrent enqueue (PostgreSQL, READ COMMITTED) aborts
   * the transaction; running it again sees the other job and coalesces.
   */
  private async inTransaction<T>(fn: (tx: Kysely<any>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(fn);
      } catch (error) {
        if (attempt >= 3 || !isUniqueViolation(error)) throw error;
      }
    }
  }
}

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** PostgreSQL returns bigint ids as strings. */
function toJob(row: Record<string, any>): Job {
  return {
    id: Number(row.id),
    tenantId: row.tenant_id,
    userId: row.user_id,
    target: row.target,
    state: row.state,
    attempts: Number(row.attempts),
    runAfter: row.run_after,
    lockedBy: row.locked_by ?? null,
    lockedUntil: row.locked_until ?? null,
    lastError: row.last_error ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
