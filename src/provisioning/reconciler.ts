import { randomUUID } from 'node:crypto';
import { RolecallError } from '../domain/errors.ts';
import type { Policy, PolicyTarget } from '../policy/policy.ts';
import type { AccountRegistry } from './account-registry.ts';
import type { DirectoryView } from './directory-view.ts';
import { driftFindings, type DriftFinding } from './drift-finding.ts';
import { executePlan, planStatements } from './execute-plan.ts';
import type { FinishState, JobQueue } from './job-queue.ts';
import { JobRunner, type JobRun } from './job-runner.ts';
import { mapLimit } from './map-limit.ts';
import { planPrincipals, planStale, type PlanSources } from './plan-principal.ts';
import { emitStep, stepEvent, type ProvisioningHooks } from './provisioning-events.ts';
import type { ActualAccount, DesiredAccount, Step, StepResult, Target } from './target.ts';

/** Drifted users of a target whose jobs a reconcile claims and runs together. */
const RECONCILE_BATCH = 200;

/** One account's drift and the plan that repairs it. A plan is data: nothing here has run. */
export interface AccountPlan {
  target: string;
  tenantId: string;
  /** Absent for a stale managed login no directory user accounts for. */
  userId?: string;
  /** Empty for a target-level error (no connection, unreadable). */
  login: string;
  desiredState?: DesiredAccount['state'];
  steps: Step[];
  /** The exact statements the steps would send (dry-run output). */
  statements: string[];
  /** The most urgent finding; all of them in `findings`. */
  finding: DriftFinding;
  findings: DriftFinding[];
  /** The conflict or error, when there is one. */
  message?: string;
}

export interface ReconcileFilter {
  /** Only this policy target. */
  target?: string;
  /** Only this directory user id (stale-login detection is skipped). */
  user?: string;
}

/**
 * What applying a plan came to: a job's state after running it here; 'deferred' when the
 * principal's job is running elsewhere or waiting out a retry backoff (it stays queued for the
 * workers); 'applied'/'failed' for a stale login's direct offboarding.
 */
export interface AppliedPlan {
  plan: AccountPlan;
  state: FinishState | 'deferred' | 'applied' | 'failed';
  results: StepResult[];
  error: string | null;
}

export interface ReconcileReport {
  plans: AccountPlan[];
  applied: AppliedPlan[];
}

export interface ReconcilerOptions {
  queue: JobQueue;
  policy: () => Policy;
  targets: (name: string) => Target | undefined;
  view: DirectoryView;
  accounts: AccountRegistry;
  hooks?: ProvisioningHooks;
  /** Directory users read, and planned together, per page. Default 500. */
  pageSize?: number;
}

/**
 * Full reconcile: every user of each target's tenant, every recorded account (deleted users),
 * and every managed login the target reports (stale logins) is planned against the target.
 * Accounts without Rolecall's marker only show up as conflicts; they are never changed.
 *
 * reconcile() applies through the job path: a drifted user gets a (coalesced) job that is
 * claimed and run here at once, so a reconcile never runs alongside a worker on the same
 * principal and every run is recorded as a job attempt. Stale logins with no directory user
 * have no principal to queue; their offboarding steps run directly and are reported through
 * onStepResult. Jobs run here count against PolicyTarget.concurrency separately from the
 * worker pool's, so a reconcile in a serving process can double a target's parallelism while
 * it runs.
 */
export class Reconciler {
  private readonly runner: JobRunner;
  private readonly workerId = `reconcile:${randomUUID().slice(0, 8)}`;

  constructor(private readonly options: ReconcilerOptions) {
    this.runner = new JobRunner(options);
  }

  async planAll(filter: ReconcileFilter = {}): Promise<AccountPlan[]> {
    const policy = this.options.policy();
    const targets = policy.targets.filter((t) => filter.target === undefined || t.name === filter.target);
    if (filter.target !== undefined && targets.length === 0) throw new RolecallError('reject', `target "${filter.target}" is not in the policy`);
    const plans: AccountPlan[] = [];
    for (const policyTarget of targets) plans.push(...(await this.planTarget(policy, policyTarget, filter)));
    return plans;
  }

  async reconcile(filter: ReconcileFilter = {}): Promise<ReconcileReport> {
    const plans = await this.planAll(filter);
    const policy = this.options.policy();
    const drifted = plans.filter((p) => p.steps.length > 0);
    const applied: AppliedPlan[] = [];
    for (const policyTarget of policy.targets) {
      const mine = drifted.filter((p) => p.target === policyTarget.name);
      if (mine.length === 0) continue;
      const users = mine.filter((p) => p.userId !== undefined);
      await this.options.queue.enqueue(users.map((p) => ({ tenantId: p.tenantId, userId: p.userId!, target: p.target })));
      const batches: AccountPlan[][] = [];
      for (let i = 0; i < users.length; i += RECONCILE_BATCH) batches.push(users.slice(i, i + RECONCILE_BATCH));
      for (const done of await mapLimit(batches, policyTarget.concurrency, (batch) => this.applyBatch(policyTarget.name, batch))) applied.push(...done);
      for (const plan of mine.filter((p) => p.userId === undefined)) applied.push(await this.applyStale(plan));
    }
    return { plans, applied };
  }

  /** Claims the drifted users' jobs and runs them as one batch; a job running elsewhere or backing off stays queued ('deferred'). */
  private async applyBatch(target: string, plans: AccountPlan[]): Promise<AppliedPlan[]> {
    const tenantId = plans[0]!.tenantId;
    const jobs = await this.options.queue.claim(this.workerId, { target, tenantId, userIds: plans.map((p) => p.userId!) });
    const runs = new Map<string, JobRun>();
    if (jobs.length > 0) (await this.runner.runBatch(jobs, this.workerId)).forEach((run, i) => runs.set(jobs[i]!.userId, run));
    return plans.map((plan) => {
      const run = runs.get(plan.userId!);
      return run ? { plan, ...run } : { plan, state: 'deferred', results: [], error: null };
    });
  }

  private async applyStale(plan: AccountPlan): Promise<AppliedPlan> {
    const target = this.options.targets(plan.target);
    if (!target) return { plan, state: 'failed', results: [], error: `target "${plan.target}" has no running connection` };
    const results = await executePlan(target, plan.steps);
    const base = { source: 'reconcile' as const, jobId: null, target: plan.target, tenantId: plan.tenantId, userId: null, login: plan.login };
    for (const result of results) await emitStep(this.options.hooks ?? {}, stepEvent(base, result));
    const failed = results.filter((r) => r.outcome === 'failed');
    return {
      plan,
      state: failed.length === 0 ? 'applied' : 'failed',
      results,
      error: failed.length === 0 ? null : failed.map((r) => `${r.step.op}: ${r.message ?? 'failed'}`).join('; '),
    };
  }

  private async planTarget(policy: Policy, policyTarget: PolicyTarget, filter: ReconcileFilter): Promise<AccountPlan[]> {
    const target = this.options.targets(policyTarget.name);
    const base = { target: policyTarget.name, tenantId: policyTarget.tenant };
    if (!target) return [targetError(base, `target "${policyTarget.name}" has no running connection`)];
    const sources: PlanSources = { policy, view: this.options.view, accounts: this.options.accounts };
    try {
      const recorded = (await this.options.accounts.list(policyTarget.name)).filter((a) => a.tenantId === policyTarget.tenant);
      const userIds = filter.user !== undefined ? [filter.user] : await this.allUserIds(policyTarget.tenant, recorded.map((a) => a.userId));
      const result: AccountPlan[] = [];
      // A page of users at a time, each page planned with one round of bulk reads.
      for (let i = 0; i < userIds.length; i += this.options.pageSize ?? 500) {
        const page = userIds.slice(i, i + (this.options.pageSize ?? 500)).map((userId) => ({ ...base, userId }));
        for (const plan of await planPrincipals(sources, policyTarget, target, page)) {
          const userId = plan.principal.userId;
          // A user whose login cannot be rendered is that user's problem, not the target's.
          if (plan.error) result.push(accountPlan({ ...base, userId, login: '' }, [], target, ['error'], plan.error.message));
          if (!plan.desired) continue;
          const conflict = plan.conflict === undefined ? undefined : plan.actual?.exists ? 'unmanaged-conflict' : 'login-conflict';
          const findings = driftFindings(plan.steps, { stale: !plan.userExists, ...(conflict ? { conflict } : {}) });
          result.push(accountPlan({ ...base, userId, login: plan.desired.login, desiredState: plan.desired.state }, plan.steps, target, findings, plan.conflict, plan.actual));
        }
      }
      if (filter.user === undefined) result.push(...(await this.planStaleLogins(policy, policyTarget, target, result, recorded.map((a) => a.login))));
      return result;
    } catch (error) {
      return [targetError(base, error instanceof Error ? error.message : String(error))];
    }
  }

  /** Managed logins on the target that neither a directory user nor an `accounts` row explains. */
  private async planStaleLogins(policy: Policy, policyTarget: PolicyTarget, target: Target, planned: AccountPlan[], recordedLogins: string[]): Promise<AccountPlan[]> {
    const known = new Set([...planned.map((p) => p.login), ...recordedLogins]);
    const base = { target: policyTarget.name, tenantId: policyTarget.tenant };
    const stale = (await target.listManaged()).filter((a) => !known.has(a.login));
    return stale.map((actual) => {
      const { desired, steps } = planStale(policy, policyTarget, actual);
      return accountPlan({ ...base, login: actual.login, desiredState: desired.state }, steps, target, driftFindings(steps, { stale: true }), undefined, actual);
    });
  }

  /** The tenant's directory users, page by page, then recorded users the directory no longer has. */
  private async allUserIds(tenantId: string, recordedUserIds: string[]): Promise<string[]> {
    const pageSize = this.options.pageSize ?? 500;
    const ids: string[] = [];
    for (let after: string | null = null; ; ) {
      const page = await this.options.view.userIds(tenantId, after, pageSize);
      ids.push(...page);
      if (page.length < pageSize) break;
      after = page[page.length - 1]!;
    }
    const inDirectory = new Set(ids);
    return [...ids, ...new Set(recordedUserIds.filter((id) => !inDirectory.has(id)))];
  }
}

function accountPlan(
  identity: Pick<AccountPlan, 'target' | 'tenantId' | 'userId' | 'login' | 'desiredState'>,
  steps: Step[],
  target: Target,
  findings: DriftFinding[],
  message?: string,
  actual?: ActualAccount,
): AccountPlan {
  return {
    ...identity,
    steps,
    statements: planStatements(target, steps, actual),
    finding: findings[0] ?? 'in-sync',
    findings,
    ...(message === undefined ? {} : { message }),
  };
}

function targetError(base: { target: string; tenantId: string }, message: string): AccountPlan {
  return { ...base, login: '', steps: [], statements: [], finding: 'error', findings: ['error'], message };
}
