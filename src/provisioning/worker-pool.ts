import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Policy } from '../policy/policy.ts';
import type { Job } from './job.ts';
import type { JobQueue } from './job-queue.ts';
import { JobRunner, type JobRunnerOptions } from './job-runner.ts';
import { WakeSignal } from './wake-signal.ts';

export interface WorkerPoolOptions extends JobRunnerOptions {
  /** Names this process in leases and attempts. Default: host, pid and a random suffix. */
  workerId?: string;
  /**
   * How often to look for due jobs without a wake-up: retries coming due, and jobs queued by
   * other processes sharing a PostgreSQL store (notify() only reaches this process). Default 250 ms.
   */
  pollIntervalMs?: number;
  /**
   * At start, take back every running job, not only those whose lease lapsed. Set for the
   * embedded SQLite store: one process owns it, so running jobs at start-up are a dead
   * predecessor's and need not wait out their lease.
   */
  recoverAllOnStart?: boolean;
  /**
   * After a 'fatal' failure (the target's credentials or privileges are wrong), no further job of
   * that target is claimed for this long, so its queued jobs wait instead of each being
   * dead-lettered in turn; then one job probes again. Default 60 s.
   */
  fatalPauseMs?: number;
  /** Told when a target is paused after a fatal failure. */
  onTargetPaused?: (target: string, until: Date, error: string | null) => void;
  /**
   * Jobs of one target run together at most (planned with one round of reads, applied with
   * Target.applyPlans). Each batch takes one of the target's `concurrency` slots. Default 200.
   */
  batchSize?: number;
  /** How long finished (done) jobs and their attempts are kept. Default 7 days; 0 keeps them forever. */
  retainDoneMs?: number;
  /** Errors of the loop itself (claiming, lease renewal, housekeeping): the loop keeps going. */
  onError?: (error: unknown, during: 'claim' | 'renew' | 'recover' | 'housekeeping') => void;
}

/** How often housekeeping (lease recovery, orphaned jobs, retention) runs at most. */
const HOUSEKEEPING_MS = 60_000;

/**
 * Runs queued jobs in batches: per target at most PolicyTarget.concurrency batches at once,
 * across principals in parallel (the queue never hands out one principal twice). Sleeps between polls, and wakes at
 * once on notify(), which the app calls after each SCIM write commits, or when a job finishes
 * and frees a slot.
 */
export class WorkerPool {
  readonly workerId: string;
  private readonly queue: JobQueue;
  private readonly policy: () => Policy;
  private readonly runner: JobRunner;
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly options: WorkerPoolOptions;
  private readonly signal = new WakeSignal();
  /** Batches in flight: their target, the ids of their jobs (whose leases are renewed), and their end. */
  private readonly running = new Set<{ target: string; jobIds: number[]; done: Promise<unknown> }>();
  private loop: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private lastRecovery = 0;
  private lastHousekeeping = 0;
  /** Targets paused after a fatal failure; an entry outlives its time until a probe succeeds. */
  private readonly pausedUntil = new Map<string, number>();
  /**
   * A claim that took fewer jobs than asked emptied its target: nothing more is claimed there
   * until new work may exist: after notify() or the poll interval (counted by `wakes`), or once
   * a batch of that target finished (its per-target count), which may free a coalesced job of
   * one of its principals. The loop wakes for every commit and every finished batch of any
   * target; without this each wake claimed from every target, mostly for nothing.
   */
  private wakes = 0;
  private readonly finishedBatches = new Map<string, number>();
  private readonly drainedAt = new Map<string, string>();
  private lastPoll = 0;

  constructor(options: WorkerPoolOptions) {
    this.options = options;
    this.queue = options.queue;
    this.policy = options.policy;
    this.runner = new JobRunner(options);
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.batchSize = options.batchSize ?? 200;
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(50, this.queue.leaseMs / 3));
    this.renewTimer.unref();
    this.loop = this.run();
  }

  /** New work may be queued (a SCIM write committed): look now instead of at the next poll. */
  notify(): void {
    this.wakes += 1;
    this.signal.wake();
  }

  /** Jobs this process is running now. */
  get active(): number {
    let n = 0;
    for (const batch of this.running) n += batch.jobIds.length;
    return n;
  }

  /**
   * Stops claiming and waits up to `timeoutMs` for running jobs. A job still running then keeps
   * its lease; it is recovered (and re-planned) once the lease lapses.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.loop) return;
    this.stopping = true;
    this.signal.wake();
    await this.loop;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.allSettled([...this.running].map((r) => r.done)), deadline]);
    clearTimeout(timer);
    clearInterval(this.renewTimer);
    this.loop = undefined;
  }

  private async run(): Promise<void> {
    await this.recover(this.options.recoverAllOnStart === true);
    while (!this.stopping) {
      let claimed = 0;
      try {
        if (Date.now() - this.lastRecovery > this.queue.leaseMs / 2) await this.recover(false);
        if (Date.now() - this.lastHousekeeping > HOUSEKEEPING_MS) await this.housekeeping();
        // Retries coming due, recovered leases and other processes' jobs: every target is looked at again.
        if (Date.now() - this.lastPoll >= this.pollIntervalMs) {
          this.lastPoll = Date.now();
          this.wakes += 1;
        }
        for (const target of this.policy().targets) {
          const seen = this.seen(target.name);
          if (this.drainedAt.get(target.name) === seen) continue;
          const active = this.activeOn(target.name);
          let free = target.concurrency - active;
          // A paused target gets nothing until the pause ends, then a single probing job.
          const paused = this.pausedUntil.get(target.name);
          if (paused !== undefined) free = paused > Date.now() || active > 0 ? 0 : 1;
          for (; free > 0 && !this.stopping; free--) {
            const limit = paused !== undefined ? 1 : this.batchSize;
            const jobs = await this.queue.claim(this.workerId, { target: target.name, limit });
            if (jobs.length < limit) this.drainedAt.set(target.name, seen);
            if (jobs.length > 0) this.launch(target.name, jobs);
            claimed += jobs.length;
            if (jobs.length < limit) break;
          }
        }
      } catch (error) {
        this.options.onError?.(error, 'claim');
      }
      // After a claim, look again at once: more may be due than there were free slots.
      if (claimed === 0 && !this.stopping) await this.signal.wait(this.pollIntervalMs);
    }
  }

  private launch(target: string, jobs: Job[]): void {
    const batch = { target, jobIds: jobs.map((j) => j.id), done: Promise.resolve() as Promise<unknown> };
    batch.done = this.runner
      .runBatch(jobs, this.workerId)
      .then((runs) => {
        const fatal = runs.find((run) => run.fatal);
        if (!fatal) {
          this.pausedUntil.delete(target);
          return;
        }
        const until = Date.now() + (this.options.fatalPauseMs ?? 60_000);
        this.pausedUntil.set(target, until);
        this.options.onTargetPaused?.(target, new Date(until), fatal.error);
      })
      .catch(() => {
        // Finishing itself failed (store unreachable): the leases lapse and the jobs are recovered.
      })
      .finally(() => {
        this.running.delete(batch);
        this.finishedBatches.set(target, (this.finishedBatches.get(target) ?? 0) + 1);
        this.signal.wake();
      });
    this.running.add(batch);
  }

  /** What has happened since a target was last found empty (see drainedAt), as a comparable key. */
  private seen(target: string): string {
    return `${this.wakes}/${this.finishedBatches.get(target) ?? 0}`;
  }

  /** Batches running on a target: each holds one of its concurrency slots. */
  private activeOn(target: string): number {
    let n = 0;
    for (const r of this.running) if (r.target === target) n++;
    return n;
  }

  private async recover(all: boolean): Promise<void> {
    this.lastRecovery = Date.now();
    try {
      await this.queue.recover({ all });
      // Recovered jobs are queued again.
      this.wakes += 1;
    } catch (error) {
      this.options.onError?.(error, 'recover');
    }
  }

  private async housekeeping(): Promise<void> {
    this.lastHousekeeping = Date.now();
    try {
      const targets = this.policy().targets.map((t) => t.name);
      // No targets at all reads as "no policy loaded", not as "abandon everything".
      if (targets.length > 0) await this.queue.abandonUnknownTargets(targets);
      const retain = this.options.retainDoneMs ?? 7 * 24 * 3600_000;
      if (retain > 0) await this.queue.purgeDone(new Date(Date.now() - retain));
    } catch (error) {
      this.options.onError?.(error, 'housekeeping');
    }
  }

  private async renewLeases(): Promise<void> {
    try {
      await this.queue.renew(this.workerId, [...this.running].flatMap((r) => r.jobIds));
    } catch (error) {
      this.options.onError?.(error, 'renew');
    }
  }
}
