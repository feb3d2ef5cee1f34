import { sql, type Kysely } from 'kysely';
import { atCommit } from '../directory/held-statements.ts';
import type { Principal } from './job.ts';

/** Rows per INSERT: stays well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters. */
const CHUNK = 500;

/**
 * The one order in which every writer touches principals' queued jobs: enqueueJobs' upserts
 * and a worker's requeues (a requeued job takes the principal's `jobs_one_queued` slot). Two
 * transactions touching the same principals' slots in one order cannot deadlock.
 */
export function inPrincipalOrder<T>(items: readonly T[], principalOf: (item: T) => Principal): T[] {
  return [...items].sort((a, b) => {
    const [x, y] = [principalKey(principalOf(a)), principalKey(principalOf(b))];
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

const principalKey = (p: Principal) => `${p.tenantId}\u0000${p.userId}\u0000${p.target}`;

/**
 * Queues a job for each principal, in the caller's transaction when `db` is one. A principal
 * that already has a queued job gets no second one (the partial unique index `jobs_one_queued`):
 * that job recomputes the plan when it runs, so it covers this change too, PROVIDED it runs
 * after this transaction commits. So the existing job is not skipped but touched: the upsert
 * row-locks it until commit, and a PostgreSQL claimer (FOR UPDATE SKIP LOCKED) passes it by
 * until then instead of running it against the directory as it was before this change. (With
 * DO NOTHING, a claim between this insert and the commit lost the change.) A principal whose
 * job is running gets a new queued job, because the running one may have read the directory
 * before this change; that also covers a job claimed before the upserts, which are held for
 * the commit and so run only then.
 */
export async function enqueueJobs(db: Kysely<any>, principals: Principal[], now: Date = new Date()): Promise<void> {
  const at = now.toISOString();
  const sorted = inPrincipalOrder([...new Map(principals.map((p) => [principalKey(p), p])).values()], (p) => p);
  const rows = sorted.map((p) => ({
    tenant_id: p.tenantId,
    user_id: p.userId,
    target: p.target,
    state: 'queued',
    attempts: 0,
    run_after: at,
    created_at: at,
    updated_at: at,
  }));
  // Held for the commit (atCommit): on PostgreSQL the upserts travel with a SCIM write's COMMIT
  // and cost it no round trip of its own.
  for (let i = 0; i < rows.length; i += CHUNK) {
    const upsert = db
      .insertInto('jobs')
      .values(rows.slice(i, i + CHUNK))
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'user_id', 'target'])
          // A literal, not a parameter: the index predicate must match jobs_one_queued's at plan time.
          .where(sql.ref('state'), '=', sql.lit('queued'))
          .doUpdateSet({ updated_at: sql.ref('excluded.updated_at') }),
      );
    await db.executeQuery(atCommit(upsert.compile()));
  }
}
