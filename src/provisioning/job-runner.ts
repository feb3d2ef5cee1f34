import { performance } from 'node:perf_hooks';
import { RolecallError, type Disposition } from '../domain/errors.ts';
import type { Policy } from '../policy/policy.ts';
import type { AccountRegistry } from './account-registry.ts';
import type { DirectoryView } from './directory-view.ts';
import { executePlan } from './execute-plan.ts';
import type { Job } from './job.ts';
import type { AttemptReport, FinishState, JobQueue } from './job-queue.ts';
import { planPrincipal, type PrincipalPlan } from './plan-principal.ts';
import { emitJobFinished, emitStep, stepEvent, type ProvisioningHooks } from './provisioning-events.ts';
import type { StepResult, Target } from './target.ts';

export interface JobRunnerOptions {
  queue: JobQueue;
  /** The current policy (re-read for every job, so a reloaded policy applies at once). */
  policy: () => Policy;
  /** The live Target instance of a policy target, by name. */
  targets: (name: string) => Target | undefined;
  view: DirectoryView;
  accounts: AccountRegistry;
  hooks?: ProvisioningHooks;
}

/** What one run of a job did. */
export interface JobRun {
  state: FinishState;
  results: StepResult[];
  error: string | null;
  /** A 'fatal' failure: the target itself is misconfigured (credentials, privileges), not this job. */
  fatal: boolean;
}

/**
 * Runs one claimed job: plan from the current directory and target state, apply, record the
 * attempt, and move the job on. Every outcome, including a thrown error, ends in finish():
 * done; queued again with backoff for 'retry' and 'conflict' (re-read and re-plan); dead at
 * once for 'reject' and 'fatal', which retrying cannot fix.
 */
export class JobRunner {
  constructor(private readonly options: JobRunnerOptions) {}

  async run(job: Job, workerId: string): Promise<JobRun> {
    const startedAt = new Date();
    const started = performance.now();
    const hooks = this.options.hooks ?? {};
    let results: StepResult[] = [];
    let report: AttemptReport;
    let fatal = false;
    try {
      const outcome = await this.attempt(job);
      results = outcome.results;
      report = { startedAt, results, ...outcome.verdict };
      fatal = results.some((r) => r.outcome === 'failed' && r.disposition === 'fatal');
    } catch (error) {
      const disposition: Disposition = error instanceof RolecallError ? error.disposition : 'retry';
      report = { startedAt, results, outcome: settle(disposition), error: errorMessage(error) };
      fatal = disposition === 'fatal';
    }
    const state = await this.options.queue.finish(job, workerId, report);
    const run: JobRun = { state, results, error: report.error ?? null, fatal };
    await emitJobFinished(hooks, { job, ...run, durationMs: performance.now() - started });
    return run;
  }

  private async attempt(job: Job): Promise<{ results: StepResult[]; verdict: Pick<AttemptReport, 'outcome' | 'error'> }> {
    const policy = this.options.policy();
    const policyTarget = policy.targets.find((t) => t.name === job.target);
    if (!policyTarget) return { results: [], verdict: { outcome: 'dead', error: `target "${job.target}" is not in the policy` } };
    const target = this.options.targets(job.target);
    if (!target) return { results: [], verdict: { outcome: 'dead', error: `target "${job.target}" has no running connection` } };

    const plan = await planPrincipal({ policy, view: this.options.view, accounts: this.options.accounts }, policyTarget, target, job);
    // An account Rolecall does not own is reported, never changed: retrying cannot fix it.
    if (plan.conflict !== undefined) return { results: [], verdict: { outcome: 'dead', error: plan.conflict } };
    if (!plan.desired) return { results: [], verdict: { outcome: 'done' } };
    const holder = await this.recordLogin(plan);
    if (holder) return { results: [], verdict: { outcome: 'dead', error: holder } };

    const results = await executePlan(target, plan.steps);
    const base = { source: 'job' as const, jobId: job.id, target: job.target, tenantId: job.tenantId, userId: job.userId, login: plan.desired.login };
    for (const result of results) await emitStep(this.options.hooks ?? {}, stepEvent(base, result));

    const failures = results.filter((r) => r.outcome === 'failed');
    if (failures.length === 0) {
      // A dropped login is forgotten; one the target kept (drop skipped: locked instead) stays recorded.
      const gone = plan.actual?.exists === false || results.some((r) => r.step.op === 'drop' && r.outcome === 'applied');
      if (plan.desired.state === 'absent' && gone && plan.recorded) await this.options.accounts.forget(job.target, job.tenantId, job.userId);
      return { results, verdict: { outcome: 'done' } };
    }
    const error = failures.map((r) => `${r.step.op}: ${r.message ?? 'failed'}`).join('; ');
    const outcome = failures.some((r) => settle(r.disposition ?? 'retry') === 'dead') ? 'dead' : 'retry';
    return { results, verdict: { outcome, error } };
  }

  /**
   * Records the login before anything is created (a crash after creation still leaves it
   * known) and adopts a managed login found on the target without a record. Returns a reason
   * when the login belongs to another user.
   */
  private async recordLogin(plan: PrincipalPlan): Promise<string | undefined> {
    const { desired, actual, recorded, principal } = plan;
    if (!desired || recorded || desired.state === 'absent') return undefined;
    const creates = plan.steps.some((s) => s.op === 'createLogin');
    if (!creates && !(actual?.exists && actual.managed)) return undefined;
    const holder = await this.options.accounts.claim({ ...principal, login: desired.login });
    return holder ? `login "${desired.login}" is recorded for user ${holder.userId} of tenant ${holder.tenantId}` : undefined;
  }
}

/** What a failure's disposition means for the job. */
function settle(disposition: Disposition): 'retry' | 'dead' {
  return disposition === 'retry' || disposition === 'conflict' ? 'retry' : 'dead';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
