import type { AuditEvent, AuditLog } from '../audit/audit-log.ts';

/** A role a login holds per the audit trail: when the grant in force was applied and which groups it named. */
export interface ReplayedRole {
  since: string;
  grantedBy: string[];
}

/** A login as the applied provisioning steps left it. */
export interface ReplayedAccount {
  target: string;
  login: string;
  tenantId: string | null;
  userId: string | null;
  canLogin: boolean;
  roles: Map<string, ReplayedRole>;
  lastChange: string;
}

export interface ReplayedAccess {
  /** Logins that exist at the end of the replay, keyed by accountKey(target, login). Dropped logins are removed. */
  accounts: Map<string, ReplayedAccount>;
  /** userName of each user by userKey(tenantId, userId), as the last directory change recorded it (kept after deletion). */
  userNames: Map<string, string>;
}

export interface ReplayOptions {
  /** Inclusive upper bound on event time (ISO-8601); unset replays the whole log. */
  until?: string;
  /** Only this target's steps. */
  target?: string;
  /** Events per audit query (default 1,000; AuditLog allows at most 10,000). */
  pageSize?: number;
}

export const accountKey = (target: string, login: string): string => `${target}\u0000${login}`;
export const userKey = (tenantId: string | null, userId: string): string => `${tenantId ?? ''}\u0000${userId}`;

/**
 * Replays the applied 'provision.step' events in seq order (the order the chain committed
 * them) into the access each login held, and the user 'directory.change' events into the
 * userNames of the users. Reads the log one page at a time, so memory grows with the number
 * of logins, not the number of events.
 *
 * Only applied steps count: a failed step changed nothing, and a skipped one found nothing to
 * change. Events before the latest retention checkpoint are gone, so access granted before
 * the pruned range is not known here.
 */
export async function replayProvisioning(audit: AuditLog, options: ReplayOptions = {}): Promise<ReplayedAccess> {
  const pageSize = options.pageSize ?? 1000;
  // AuditQuery.to is exclusive and times have millisecond precision: +1 ms includes events at `until` itself.
  const to = options.until === undefined ? undefined : new Date(Date.parse(options.until) + 1).toISOString();
  const state: ReplayedAccess = { accounts: new Map(), userNames: new Map() };
  let after: number | undefined;
  for (;;) {
    const page = await audit.query({ type: ['provision.step', 'directory.change'], to, after, limit: pageSize });
    for (const event of page) {
      if (event.type === 'directory.change') recordUserName(state, event);
      else if (options.target === undefined || event.target === options.target) applyStep(state, event);
    }
    if (page.length < pageSize) return state;
    after = page[page.length - 1]!.seq;
  }
}

function recordUserName(state: ReplayedAccess, event: AuditEvent): void {
  const { kind, userName } = event.payload as { kind?: unknown; userName?: unknown };
  if (typeof kind === 'string' && kind.startsWith('user.') && event.userId && typeof userName === 'string') {
    state.userNames.set(userKey(event.tenantId, event.userId), userName);
  }
}

function applyStep(state: ReplayedAccess, event: AuditEvent): void {
  const payload = event.payload as { op?: unknown; outcome?: unknown; login?: unknown; step?: { role?: unknown }; grantedBy?: unknown };
  const target = event.target;
  if (payload.outcome !== 'applied' || typeof payload.login !== 'string' || target === null) return;
  const key = accountKey(target, payload.login);
  const existing = state.accounts.get(key);
  // A step on a login whose creation the log does not hold (pruned, or made before auditing) still proves it exists.
  const account: ReplayedAccount = existing ?? {
    target,
    login: payload.login,
    tenantId: event.tenantId,
    userId: event.userId,
    canLogin: true,
    roles: new Map(),
    lastChange: event.at,
  };
  const role = typeof payload.step?.role === 'string' ? payload.step.role : undefined;
  switch (payload.op) {
    case 'createLogin':
      break;
    case 'grant':
      if (role === undefined) return;
      // The latest applied grant is the one in force: the planner grants only a role the login lacks.
      account.roles.set(role, { since: event.at, grantedBy: stringArray(payload.grantedBy) });
      break;
    case 'revoke':
      if (role === undefined) return;
      account.roles.delete(role);
      break;
    case 'lock':
      account.canLogin = false;
      break;
    case 'unlock':
      account.canLogin = true;
      break;
    case 'drop':
      state.accounts.delete(key);
      return;
    default:
      // ensureRole and endSessions change no login's access.
      return;
  }
  account.tenantId = event.tenantId ?? account.tenantId;
  account.userId = event.userId ?? account.userId;
  account.lastChange = event.at;
  state.accounts.set(key, account);
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
