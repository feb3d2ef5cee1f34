import type { Kysely } from 'kysely';
import type { Principal } from './job.ts';

/** Rows per INSERT: stays well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters. */
const CHUNK = 500;

/**
 * Queues a job for each principal, in the caller's transaction when `db` is one. A principal
 * that already has a queued job is skipped (the partial unique index `jobs_one_queued`): that
 * job will recompute the plan when it runs, so it covers this change too. A principal whose job
 * is running gets a new queued job, because the running one may have read the directory
 * before this change.
 */
export async function enqueueJobs(db: Kysely<any>, principals: Principal[], now: Date = new Date()): Promise<void> {
  const at = now.toISOString();
  const unique = new Map(principals.map((p) => [`${p.tenantId}\u0000${p.userId}\u0000${p.target}`, p]));
  const rows = [...unique.values()].map((p) => ({
    tenant_id: p.tenantId,
    user_id: p.userId,
    target: p.target,
    state: 'queued',
    attempts: 0,
    run_after: at,
    created_at: at,
    updated_at: at,
  }));
  for (let i = 0; i < rows.length; i += CHUNK) {
    await db
      .insertInto('jobs')
      .values(rows.slice(i, i + CHUNK))
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}
