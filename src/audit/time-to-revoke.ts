import type { AuditEvent, AuditLog } from './audit-log.ts';

export interface RevocationTime {
  userId: string;
  target: string;
  /** Milliseconds from the offboarding SCIM write to the last applied lock/endSessions/drop step on the target. */
  ms: number;
  tenantId: string | null;
  requestId: string | null;
  requestedAt: string;
  revokedAt: string;
}

/** Steps that take access away. Failed steps removed nothing, so only applied or skipped (already done) ones count. */
const REVOKING_OPS = new Set(['lock', 'endSessions', 'drop']);
const DONE = new Set(['applied', 'skipped']);

interface Offboarding {
  event: AuditEvent;
  /** Seq of the user's next reactivation: steps after it belong to a new life of the account. */
  until: number;
}

/**
 * For every offboarding (user deactivated or deleted) since `since`, how long it took until
 * each target had finished revoking access, slowest first. A run of offboarding changes
 * (deactivate, later delete) counts once, from the first: that is when access should have
 * ended. Reads the log page by page; holds only offboardings in memory.
 */
export async function timeToRevoke(log: AuditLog, options: { since?: string } = {}): Promise<RevocationTime[]> {
  const offboardings: Offboarding[] = [];
  const open = new Map<string, Offboarding>();
  let after: number | undefined;
  for (;;) {
    const page = await log.query({ type: 'directory.change', from: options.since, after, limit: 10_000 });
    for (const event of page) {
      const { kind, active } = event.payload as { kind?: string; active?: boolean };
      if (!event.userId || !kind?.startsWith('user.')) continue;
      const offboards = kind === 'user.deleted' || (kind === 'user.updated' && active === false);
      const current = open.get(event.userId);
      if (offboards && !current) {
        const entry = { event, until: Number.POSITIVE_INFINITY };
        offboardings.push(entry);
        open.set(event.userId, entry);
      } else if (!offboards && active === true && current) {
        current.until = event.seq;
        open.delete(event.userId);
      }
    }
    if (page.length < 10_000) break;
    after = page[page.length - 1]!.seq;
  }

  const results: RevocationTime[] = [];
  for (const { event, until } of offboardings) {
    const userId = event.userId!;
    const last = new Map<string, AuditEvent>();
    let cursor = event.seq;
    for (;;) {
      const steps = await log.query({ type: 'provision.step', userId, after: cursor, limit: 10_000 });
      for (const step of steps) {
        if (step.seq >= until) break;
        const { op, outcome } = step.payload as { op?: string; outcome?: string };
        if (step.target && op && outcome && REVOKING_OPS.has(op) && DONE.has(outcome)) last.set(step.target, step);
      }
      const reachedEnd = steps.length < 10_000 || steps[steps.length - 1]!.seq >= until;
      if (reachedEnd) break;
      cursor = steps[steps.length - 1]!.seq;
    }
    for (const [target, step] of last) {
      results.push({
        userId,
        target,
        ms: Date.parse(step.at) - Date.parse(event.at),
        tenantId: event.tenantId,
        requestId: event.requestId,
        requestedAt: event.at,
        revokedAt: step.at,
      });
    }
  }
  return results.sort((a, b) => b.ms - a.ms);
}
