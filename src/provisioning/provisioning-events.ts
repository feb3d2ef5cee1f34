import type { Job } from './job.ts';
import type { FinishState } from './job-queue.ts';
import type { Step, StepOutcome, StepResult } from './target.ts';

/** One applied (or skipped, or failed) step, for the audit log and metrics. */
export interface StepEvent {
  /** 'job': a worker running a queued job; 'reconcile': a full reconcile acting on a stale login. */
  source: 'job' | 'reconcile';
  jobId: number | null;
  target: string;
  tenantId: string;
  /** null for a stale login no directory user accounts for. */
  userId: string | null;
  login: string;
  step: Step;
  statements: string[];
  outcome: StepOutcome;
  durationMs: number;
  disposition?: StepResult['disposition'];
  /** Why it failed, or why it was skipped. */
  message?: string;
  /** For a grant: the directory groups whose mapping grants the role. */
  grantedBy?: string[];
}

export interface JobFinishedEvent {
  job: Job;
  /** State after this run: done, queued (retry scheduled), dead, or lost (lease taken over). */
  state: FinishState;
  results: StepResult[];
  error: string | null;
  durationMs: number;
}

/**
 * Observers of provisioning. Awaited in order; a hook that throws is reported through
 * `onHookError` and never fails the job (the target has already changed).
 */
export interface ProvisioningHooks {
  onStepResult?: (event: StepEvent) => void | Promise<void>;
  onJobFinished?: (event: JobFinishedEvent) => void | Promise<void>;
  onHookError?: (error: unknown, hook: 'onStepResult' | 'onJobFinished') => void;
}

export async function emitStep(hooks: ProvisioningHooks, event: StepEvent): Promise<void> {
  try {
    await hooks.onStepResult?.(event);
  } catch (error) {
    hooks.onHookError?.(error, 'onStepResult');
  }
}

export async function emitJobFinished(hooks: ProvisioningHooks, event: JobFinishedEvent): Promise<void> {
  try {
    await hooks.onJobFinished?.(event);
  } catch (error) {
    hooks.onHookError?.(error, 'onJobFinished');
  }
}

/** The step event of one result. Built property by property: it runs for every step of every job, and spreads of optional members are slow. */
export function stepEvent(
  base: Omit<StepEvent, 'step' | 'statements' | 'outcome' | 'durationMs' | 'disposition' | 'message' | 'grantedBy'>,
  result: StepResult,
  grantedBy?: string[],
): StepEvent {
  const event: StepEvent = {
    source: base.source,
    jobId: base.jobId,
    target: base.target,
    tenantId: base.tenantId,
    userId: base.userId,
    login: base.login,
    step: result.step,
    statements: result.statements,
    outcome: result.outcome,
    durationMs: result.durationMs,
  };
  if (result.disposition !== undefined) event.disposition = result.disposition;
  if (result.message !== undefined) event.message = result.message;
  if (grantedBy !== undefined) event.grantedBy = grantedBy;
  return event;
}
