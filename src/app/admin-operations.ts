import { accessAt } from '../access/access-at.ts';
import { accessNow } from '../access/access-now.ts';
import { accessReviewCsv, accessReviewJson } from '../access/access-review.ts';
import type { AuditLog, AuditQuery } from '../audit/audit-log.ts';
import { adminEvent } from '../audit/audit-events.ts';
import { timeToRevoke } from '../audit/time-to-revoke.ts';
import { RolecallError } from '../domain/errors.ts';
import type { AdminOperations } from '../http/admin-routes.ts';
import type { JobState } from '../provisioning/job.ts';
import { JobQueue } from '../provisioning/job-queue.ts';
import type { Rolecall } from './open-rolecall.ts';
import type { ProvisioningRuntime } from './provisioning-runtime.ts';

export interface AdminSources {
  app: Rolecall;
  audit: AuditLog | undefined;
  provisioning: ProvisioningRuntime | undefined;
  reload: () => Promise<unknown>;
}

const JOB_STATES = new Set(['queued', 'running', 'done', 'dead']);

/** The admin API's operations over the wired parts; shared by the HTTP admin API and the CLI. */
export function adminOperations(sources: AdminSources): AdminOperations {
  const { app } = sources;
  const provisioning = () => {
    if (!sources.provisioning) throw new RolecallError('reject', 'provisioning is off: start the server with --policy');
    return sources.provisioning;
  };
  const audit = () => {
    if (!sources.audit) throw new RolecallError('reject', 'auditing is off (ROLECALL_AUDIT=false)');
    return sources.audit;
  };
  // Jobs live in the store: listing and retrying them needs no policy, only the queue.
  const queue = sources.provisioning?.queue ?? new JobQueue(app.database);
  const wake = () => sources.provisioning?.notify();
  const record = async (type: Parameters<typeof adminEvent>[0], actor: string, details: Record<string, unknown>) => {
    if (sources.audit) await sources.audit.append(app.database.db, adminEvent(type, { actor, details }));
  };
  return {
    listJobs: async (q) => {
      if (q.state !== undefined && !JOB_STATES.has(q.state)) throw new RolecallError('reject', `state must be one of ${[...JOB_STATES].join(', ')}`);
      return queue.listJobs({
        ...(q.state ? { state: q.state as JobState } : {}),
        ...(q.failed ? { failedOnly: true } : {}),
        ...(q.target ? { target: q.target } : {}),
        ...(q.user ? { userId: q.user } : {}),
        ...(q.limit ? { limit: q.limit } : {}),
      });
    },
    retryJob: async (id, actor) => {
      const ok = await queue.retry(id);
      if (ok) {
        await record('admin.job.retried', actor, { jobId: id });
        wake();
      }
      return ok;
    },
    retryAllJobs: async (actor) => {
      const count = await queue.retryAll();
      await record('admin.job.retried', actor, { all: true, count });
      wake();
      return count;
    },
    reloadPolicy: () => sources.reload(),
    plan: (q) => provisioning().plan(q),
    reconcile: async (q) => {
      const report = await provisioning().reconcile(q);
      return { plans: report.plans.length, drifted: report.plans.filter((p) => p.finding !== 'in-sync').length, applied: report.applied.map((a) => ({ target: a.plan.target, login: a.plan.login, finding: a.plan.finding, state: a.state, error: a.error })) };
    },
    auditQuery: (q) => audit().query(auditQuery(q)),
    auditExport: (q, format, write) => {
      const { limit: _limit, ...filter } = auditQuery(q);
      return format === 'csv' ? audit().exportCsv(filter, write) : audit().exportJsonl(filter, write);
    },
    auditVerify: () => audit().verify(),
    access: async (q) => {
      if (q.at) return accessAt(audit(), q.at, q);
      const runtime = provisioning();
      return accessNow(runtime.accessSources(audit()), q);
    },
    accessReview: async (format) => {
      const rows = await accessNow(provisioning().accessSources(audit()), {});
      return format === 'csv' ? accessReviewCsv(rows) : accessReviewJson(rows);
    },
    timeToRevoke: (q) => timeToRevoke(audit(), q),
  };
}

/** Query-string parameters of /admin/audit and `rolecall audit query` -> an AuditQuery. */
export function auditQuery(q: Record<string, string | undefined>): AuditQuery {
  return {
    ...(q.tenant ? { tenantId: q.tenant } : {}),
    ...(q.user ? { userId: q.user } : {}),
    ...(q.group ? { groupId: q.group } : {}),
    ...(q.target ? { target: q.target } : {}),
    ...(q.type ? { type: q.type.split(',') as AuditQuery['type'] & string[] } : {}),
    ...(q.from ? { from: q.from } : {}),
    ...(q.to ? { to: q.to } : {}),
    ...(q.after ? { after: Number(q.after) } : {}),
    ...(q.limit ? { limit: Number(q.limit) } : {}),
  };
}
