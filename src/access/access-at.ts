import type { AuditLog } from '../audit/audit-log.ts';
import type { PastAccessRow } from './access-row.ts';
import { compareRows } from './compare-rows.ts';
import { replayProvisioning, userKey } from './replay-provisioning.ts';

export interface AccessFilter {
  target?: string;
  /** A directory user id or userName. */
  user?: string;
}

/**
 * Who held which roles on which target at `at` (inclusive), from the audit trail alone:
 * the applied provisioning steps up to then, replayed in seq order (see replayProvisioning).
 * A user filter matches the user id or the userName the user had at that time. Sorted by
 * target, login, role; a login that held no role gets one row with role null.
 *
 * The audit records what Rolecall did, so a role granted or revoked by hand on the target
 * is not seen here; accessNow reads the targets themselves.
 */
export async function accessAt(audit: AuditLog, at: string, filter: AccessFilter = {}, options: { pageSize?: number } = {}): Promise<PastAccessRow[]> {
  const ms = Date.parse(at);
  if (Number.isNaN(ms)) throw new RangeError(`at: not a date/time: ${JSON.stringify(at)}`);
  const { accounts, userNames } = await replayProvisioning(audit, { until: new Date(ms).toISOString(), target: filter.target, pageSize: options.pageSize });
  const rows: PastAccessRow[] = [];
  for (const account of accounts.values()) {
    const userName = account.userId === null ? undefined : userNames.get(userKey(account.tenantId, account.userId));
    if (filter.user !== undefined && filter.user !== account.userId && filter.user !== userName) continue;
    const base = {
      target: account.target,
      ...(account.tenantId === null ? {} : { tenantId: account.tenantId }),
      ...(account.userId === null ? {} : { userId: account.userId }),
      ...(userName === undefined ? {} : { userName }),
      login: account.login,
      lastChange: account.lastChange,
      canLogin: account.canLogin,
    };
    if (account.roles.size === 0) rows.push({ ...base, role: null, grantedBy: [], since: null });
    for (const [role, held] of account.roles) rows.push({ ...base, role, grantedBy: held.grantedBy, since: held.since });
  }
  return rows.sort(compareRows);
}
