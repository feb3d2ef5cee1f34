import { performance } from 'node:perf_hooks';
import { RolecallError, type Disposition } from '../domain/errors.ts';
import { grantingGroups } from '../policy/granting-groups.ts';
import type { Policy } from '../policy/policy.ts';
import type { AccountRegistry } from './account-registry.ts';
import type { DirectoryView } from './directory-view.ts';
import type { Job } from './job.ts';
import type { AttemptReport, FinishState, JobQueue } from './job-queue.ts';
import { planPrincipals, type PrincipalPlan } from './plan-principal.ts';
import { emitJobFinished, emitStep, stepEvent, type ProvisioningHooks } from './provisioning-events.ts';
import type { StepResult, Target } from './target.ts';

export interface JobRunnerOptions {
  queue: JobQueue;
  /** The current policy (re-read for every batch, so a reloaded policy applies at once). */
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

type Attempt = { results: StepResult[]; verdict: Pick<AttemptReport, 'outcome' | 'error'>; fatal?: boolean };

/**
 * Runs claimed jobs of one target: plan from the current directory and target state, apply,
 * record each attempt, and move each job on. A batch is planned with one round of bulk reads
 * and applied with Target.applyPlans (one transaction where the engine allows), but every job
 * keeps its own plan, results and outcome. Every outcome, including a thrown error, ends in
 * finishing: done; queued again with backoff for 'retry' and 'conflict' (re-read and re-plan);
 * dead at once for 'reject' and 'fatal', which retrying cannot fix.
 */
export class JobRunner {
  constructor(private readonly options: JobRunnerOptions) {}

  async run(job: Job, workerId: string): Promise<JobRun> {
    const [run] = await this.runBatch([job], workerId);
    return run!;
  }

  /** Jobs of ONE target, each of another principal (as the queue hands them out). */
  async runBatch(jobs: Job[], workerId: string): Promise<JobRun[]> {
    const startedAt = new Date();
    const started = performance.now();
    const hooks = this.options.hooks ?? {};
    if (new Set(jobs.map((j) => j.target)).size > 1) throw new RangeError('runBatch: jobs of one target only');
    let attempts: Attempt[];
    try {
      attempts = await this.attempt(jobs);
    } catch (error) {
      // Reading the directory or the target failed: every job of the batch is retried (or dead) alike.
      const disposition: Disposition = error instanceof RolecallError ? error.disposition : 'retry';
      attempts = jobs.map(() => ({ results: [], verdict: { outcome: settle(disposition), error: errorMessage(error) }, fatal: disposition === 'fatal' }));
    }
    spareAfterFatal(attempts);
    const reports = attempts.map((a): AttemptReport => ({ startedAt, results: a.results, ...a.verdict }));
    const states = await this.options.queue.finishMany(jobs.map((job, i) => ({ job, report: reports[i]! })), workerId);
    const durationMs = performance.now() - started;
    const runs = jobs.map((job, i): JobRun => {
      const a = attempts[i]!;
      const fatal = a.fatal ?? a.results.some((r) => r.outcome === 'failed' && r.disposition === 'fatal');
      return { state: states[i]!, results: a.results, error: reports[i]!.error ?? null, fatal };
    });
    for (const [i, job] of jobs.entries()) await emitJobFinished(hooks, { job, ...runs[i]!, durationMs });
    return runs;
  }

  private async attempt(jobs: Job[]): Promise<Attempt[]> {
    const policy = this.options.policy();
    const name = jobs[0]?.target ?? '';
    const policyTarget = policy.targets.find((t) => t.name === name);
    if (!policyTarget) return jobs.map(() => ({ results: [], verdict: { outcome: 'dead', error: `target "${name}" is not in the policy` } }));
    const target = this.options.targets(name);
    if (!target) return jobs.map(() => ({ results: [], verdict: { outcome: 'dead', error: `target "${name}" has no running connection` } }));

    const plans = await planPrincipals({ policy, view: this.options.view, accounts: this.options.accounts }, policyTarget, target, jobs);
    const attempts: (Attempt | undefined)[] = plans.map((plan) => {
      if (plan.error) return { results: [], verdict: { outcome: 'dead', error: plan.error.message } };
      // An account Rolecall does not own is reported, never changed: retrying cannot fix it.
      if (plan.conflict !== undefined) return { results: [], verdict: { outcome: 'dead', error: plan.conflict } };
      if (!plan.desired) return { results: [], verdict: { outcome: 'done' } };
      return undefined;
    });
    const holders = await this.recordLogins(plans.filter((_, i) => attempts[i] === undefined));
    plans.forEach((plan, i) => {
      const holder = attempts[i] === undefined ? holders.get(plan.desired!.login) : undefined;
      if (holder && (holder.tenantId !== plan.principal.tenantId || holder.userId !== plan.principal.userId)) {
        attempts[i] = { results: [], verdict: { outcome: 'dead', error: `login "${plan.desired!.login}" is recorded for user ${holder.userId} of tenant ${holder.tenantId}` } };
      }
    });

    const runnable = plans.flatMap((plan, i) => (attempts[i] === undefined ? [i] : []));
    const results = await target.applyPlans(runnable.map((i) => ({ login: plans[i]!.desired!.login, actual: plans[i]!.actual!, steps: plans[i]!.steps })));
    for (const [k, i] of runnable.entries()) {
      attempts[i] = await this.conclude(jobs[i]!, plans[i]!, results[k]!, policy);
    }
    return attempts as Attempt[];
  }

  /** Records a job's step events and decides its outcome from its results. */
  private async conclude(job: Job, plan: PrincipalPlan, results: StepResult[], policy: Policy): Promise<Attempt> {
    const login = plan.desired!.login;
    const base = { source: 'job' as const, jobId: job.id, target: job.target, tenantId: job.tenantId, userId: job.userId, login };
    for (const result of results) {
      const grantedBy = result.step.op === 'grant' ? grantingGroups(policy, job.target, result.step.role, plan.groups) : undefined;
      await emitStep(this.options.hooks ?? {}, stepEvent(base, result, grantedBy));
    }
    const failures = results.filter((r) => r.outcome === 'failed');
    if (failures.length === 0) {
      // A dropped login is forgotten; one the target kept (drop skipped: locked instead) stays recorded.
      const gone = plan.actual?.exists === false || results.some((r) => r.step.op === 'drop' && r.outcome === 'applied');
      if (plan.desired!.state === 'absent' && gone && plan.recorded) await this.options.accounts.forget(job.target, job.tenantId, job.userId);
      return { results, verdict: { outcome: 'done' } };
    }
    const error = failures.map((r) => `${r.step.op}: ${r.message ?? 'failed'}`).join('; ');
    const outcome = failures.some((r) => settle(r.disposition ?? 'retry') === 'dead') ? 'dead' : 'retry';
    return { results, verdict: { outcome, error } };
  }

  /**
   * Records the logins about to be created before anything is created (a crash after creation
   * still leaves them known) and adopts managed logins found on the target without a record.
   * Returns who holds each of those logins afterwards (AccountRegistry.claimMany).
   */
  private async recordLogins(plans: PrincipalPlan[]) {
    const claims = plans.filter(({ desired, actual, recorded, steps }) =>
      desired && !recorded && desired.state !== 'absent' && (steps.some((s) => s.op === 'createLogin') || (actual?.exists && actual.managed)));
    return this.options.accounts.claimMany(claims.map(({ principal, desired }) => ({ ...principal, login: desired!.login })));
  }
}

/**
 * A 'fatal' failure is the target's (credentials, privileges), not the job's: the first job it
 * hits is dead-lettered to show it, and the others of the batch it hit too are queued again
 * (the worker pool pauses the target meanwhile) rather than each dead-lettered in turn.
 */
function spareAfterFatal(attempts: Attempt[]): void {
  let shown = false;
  for (const attempt of attempts) {
    const dead = attempt.results.filter((r) => r.outcome === 'failed' && settle(r.disposition ?? 'retry') === 'dead');
    if (attempt.verdict.outcome !== 'dead' || dead.length === 0 || !dead.every((r) => r.disposition === 'fatal')) continue;
    if (shown) attempt.verdict = { ...attempt.verdict, outcome: 'retry' };
    shown = true;
  }
}

/** What a failure's disposition means for the job. */
function settle(disposition: Disposition): 'retry' | 'dead' {
  return disposition === 'retry' || disposition === 'conflict' ? 'retry' : 'dead';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
