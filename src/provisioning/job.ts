import type { StepResult } from './target.ts';

/**
 * A stored provisioning job: "reconcile this directory user on this target".
 *
 *   queued --claim--> running --success--> done
 *     ^                  |  \--reject/fatal or attempts exhausted--> dead --retry()--> queued
 *     \--failure/lease expiry (backoff)--/
 *
 * A job carries no intent beyond the principal: the plan is recomputed from the directory
 * and the target each time it runs, so retries never replay stale intent.
 */
export type JobState = 'queued' | 'running' | 'done' | 'dead';

/** Who a job is about: one directory user on one target. */
export interface Principal {
  tenantId: string;
  userId: string;
  target: string;
}

export interface Job extends Principal {
  id: number;
  state: JobState;
  /** Runs started so far (a claim counts, even if the process then crashed). */
  attempts: number;
  /** ISO-8601; not claimable before. */
  runAfter: string;
  lockedBy: string | null;
  lockedUntil: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

/** done: succeeded; retry: failed, queued again with backoff; dead: dead-lettered; expired: lease lapsed (crashed worker). */
export type AttemptOutcome = 'done' | 'retry' | 'dead' | 'expired';

export interface JobAttempt {
  jobId: number;
  /** 1, 2, ... over the job's whole history (a manual retry resets Job.attempts, not this). */
  attempt: number;
  worker: string;
  startedAt: string;
  finishedAt: string;
  outcome: AttemptOutcome;
  error: string | null;
  results: StepResult[];
}
