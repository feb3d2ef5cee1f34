import type { Logger } from 'pino';
import type { AuditBuffer } from '../audit/audit-buffer.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { provisionStepEvent, reconcileFindingEvent } from '../audit/audit-events.ts';
import type { Database } from '../directory/database.ts';
import { KyselyDirectoryView } from '../directory/kysely-directory-view.ts';
import { RolecallError } from '../domain/errors.ts';
import type { TenantRepository } from '../domain/tenancy.ts';
import { loadPolicy } from '../policy/load-policy.ts';
import type { Policy } from '../policy/policy.ts';
import { redactUrl } from '../policy/redact-url.ts';
import { AccountRegistry } from '../provisioning/account-registry.ts';
import { JobQueue } from '../provisioning/job-queue.ts';
import { OutboxSink } from '../provisioning/outbox-sink.ts';
import type { ProvisioningHooks } from '../provisioning/provisioning-events.ts';
import { ReconcileScheduler } from '../provisioning/reconcile-scheduler.ts';
import { Reconciler, type ReconcileFilter, type ReconcileReport } from '../provisioning/reconciler.ts';
import type { Target } from '../provisioning/target.ts';
import { WorkerPool } from '../provisioning/worker-pool.ts';
import { createTarget } from './create-target.ts';
import { InitOnUseTarget } from './init-on-use-target.ts';
import type { Metrics } from './metrics.ts';

const EMPTY_POLICY: Policy = { version: 1, targets: [], mappings: [] };

/**
 * The current policy, with each target's tenant NAME (as written in the file) replaced by the
 * tenant's id (as carried by directory changes). Swapped whole on reload.
 */
export class PolicyHolder {
  current: Policy = EMPTY_POLICY;
  get = (): Policy => this.current;
}

export async function resolvePolicy(file: string, tenants: TenantRepository): Promise<Policy> {
  const policy = await loadPolicy(file);
  const byName = new Map((await tenants.listTenants()).map((t) => [t.name, t.id]));
  return {
    ...policy,
    targets: policy.targets.map((t) => {
      const id = byName.get(t.tenant);
      if (!id) throw new RolecallError('fatal', `${file}: target "${t.name}" names tenant "${t.tenant}", which does not exist (see: rolecall tenant list)`);
      return { ...t, tenant: id };
    }),
  };
}

export interface RuntimeOptions {
  database: Database;
  tenants: TenantRepository;
  policyFile: string;
  holder: PolicyHolder;
  logger: Logger;
  /**
   * Where provisioning steps and reconcile findings are recorded. Group-committed: they record
   * changes on the targets, which no store transaction covers, and one transaction per step
   * would make the embedded store's single writer the bottleneck of every job.
   */
  events?: AuditBuffer;
  reconcileIntervalSeconds: number;
  /** Start workers and the schedule (a server); a CLI plan/reconcile leaves them off. */
  background: boolean;
}

/**
 * The provisioning engine of one process: targets, queue, workers, reconciler and schedule,
 * all following the policy in `holder`. Reloading swaps the policy and re-plans everyone.
 */
export class ProvisioningRuntime {
  readonly queue: JobQueue;
  readonly reconciler: Reconciler;
  private readonly view: KyselyDirectoryView;
  private readonly accounts: AccountRegistry;
  private readonly workers: WorkerPool | undefined;
  private readonly scheduler: ReconcileScheduler | undefined;
  private targets = new Map<string, { signature: string; target: Target }>();
  private metrics: Metrics | undefined;

  private constructor(private readonly options: RuntimeOptions) {
    const { database, holder } = options;
    this.queue = new JobQueue(database);
    this.view = new KyselyDirectoryView(database);
    this.accounts = new AccountRegistry(database.db);
    const shared = {
      queue: this.queue,
      policy: holder.get,
      targets: (name: string) => this.targets.get(name)?.target,
      view: this.view,
      accounts: this.accounts,
      hooks: this.hooks(),
    };
    this.reconciler = new Reconciler(shared);
    if (options.background) {
      this.workers = new WorkerPool({
        ...shared,
        recoverAllOnStart: database.dialect === 'sqlite',
        onError: (error, during) => options.logger.warn({ err: error, during }, 'provisioning worker loop error'),
      });
      this.scheduler = new ReconcileScheduler(this.reconciler, {
        intervalSeconds: options.reconcileIntervalSeconds,
        onReport: (report) => this.recordFindings(report),
        onError: (error) => options.logger.warn({ err: error }, 'scheduled reconcile failed'),
      });
    }
  }

  static async start(options: RuntimeOptions): Promise<ProvisioningRuntime> {
    options.holder.current = await resolvePolicy(options.policyFile, options.tenants);
    const runtime = new ProvisioningRuntime(options);
    runtime.syncTargets();
    runtime.workers?.start();
    runtime.scheduler?.start();
    return runtime;
  }

  /** The outbox half of every SCIM write: jobs for the current policy's targets. */
  static outboxSink(holder: PolicyHolder): OutboxSink {
    return new OutboxSink(holder.get);
  }

  /** Metrics are created after the runtime (their job gauge reads this runtime's queue). */
  attachMetrics(metrics: Metrics): void {
    this.metrics = metrics;
  }

  /** The live target of a policy target (for access reports and check-config). */
  target(name: string): Target | undefined {
    return this.targets.get(name)?.target;
  }

  /** What access reports read: the policy, live targets, directory, recorded accounts, audit. */
  accessSources(audit: AuditLog) {
    return { policy: this.options.holder.current, targets: (name: string) => this.target(name), view: this.view, accounts: this.accounts, audit };
  }

  /** Wakes the workers after a SCIM write commits (the latency path). */
  notify(): void {
    this.workers?.notify();
  }

  /** Re-reads the policy file; a bad file leaves the running policy in place and says why. */
  async reload(): Promise<{ targets: number; mappings: number; queued: number }> {
    this.options.holder.current = await resolvePolicy(this.options.policyFile, this.options.tenants);
    this.syncTargets();
    // Every principal of every target is re-planned: a mapping change can touch anyone.
    const report = await this.reconciler.reconcile();
    this.recordFindings(report);
    const policy = this.options.holder.current;
    return { targets: policy.targets.length, mappings: policy.mappings.length, queued: report.applied.length };
  }

  plan(filter: ReconcileFilter = {}) {
    return this.reconciler.planAll(filter);
  }

  async reconcile(filter: ReconcileFilter = {}): Promise<ReconcileReport> {
    const report = await this.reconciler.reconcile(filter);
    this.recordFindings(report);
    return report;
  }

  async stop(): Promise<void> {
    await this.scheduler?.stop();
    await this.workers?.stop();
    await this.options.events?.flush();
    await Promise.all([...this.targets.values()].map((t) => t.target.close().catch(() => undefined)));
    this.targets.clear();
  }

  /** Creates targets new to the policy, replaces changed ones, closes removed ones. */
  private syncTargets(): void {
    const next = new Map<string, { signature: string; target: Target }>();
    for (const config of this.options.holder.current.targets) {
      const signature = JSON.stringify([config.kind, config.flavor, config.connection.url, config.offboarding, config.markerRole, config.graveyardRole]);
      const existing = this.targets.get(config.name);
      if (existing && existing.signature === signature) {
        next.set(config.name, existing);
        continue;
      }
      next.set(config.name, { signature, target: new InitOnUseTarget(createTarget(config)) });
      this.options.logger.info({ target: config.name, kind: config.kind, connection: redactUrl(config.connection.url) }, 'target configured');
    }
    for (const [name, old] of this.targets) {
      if (next.get(name) !== old) void old.target.close().catch(() => undefined);
    }
    this.targets = next;
  }

  private hooks(): ProvisioningHooks {
    const { events, logger } = this.options;
    const metrics = () => this.metrics;
    return {
      onStepResult: async (event) => {
        metrics()?.steps.inc({ target: event.target, op: event.step.op, outcome: event.outcome });
        if (events) {
          // A StepEvent is a StepResult with context: it is passed as the result itself (no copy per step).
          events.add(provisionStepEvent({
            tenantId: event.tenantId, target: event.target, userId: event.userId ?? '', login: event.login, result: event,
            grantedBy: event.grantedBy, jobId: event.jobId === null ? undefined : String(event.jobId),
          }));
        }
      },
      onJobFinished: (event) => {
        const target = event.job.target;
        metrics()?.jobLatency.observe({ target, outcome: event.state }, event.durationMs / 1000);
        const offboarded = event.state === 'done' && event.results.some((r) => r.outcome === 'applied' && (r.step.op === 'lock' || r.step.op === 'endSessions' || r.step.op === 'drop'));
        if (offboarded) metrics()?.timeToRevoke.observe({ target }, (Date.now() - Date.parse(event.job.createdAt)) / 1000);
        if (event.state === 'dead') logger.error({ jobId: event.job.id, target, userId: event.job.userId, error: event.error }, 'provisioning job dead-lettered');
      },
      onHookError: (error, hook) => logger.error({ err: error, hook }, 'provisioning hook failed'),
    };
  }

  private recordFindings(report: ReconcileReport): void {
    const { events } = this.options;
    const metrics = this.metrics;
    const repaired = new Set(report.applied.filter((a) => a.state === 'done' || a.state === 'applied').map((a) => a.plan));
    for (const plan of report.plans) {
      if (plan.finding === 'in-sync') continue;
      metrics?.driftFound.inc({ target: plan.target, finding: plan.finding });
      if (repaired.has(plan)) metrics?.driftRepaired.inc({ target: plan.target, finding: plan.finding });
      events?.add(reconcileFindingEvent({
        tenantId: plan.tenantId, target: plan.target, finding: plan.finding, userId: plan.userId ?? null, login: plan.login,
        detail: { findings: plan.findings, statements: plan.statements, ...(plan.message ? { message: plan.message } : {}) },
      }));
    }
  }
}
