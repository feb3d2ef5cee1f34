import type { AuditLog } from '../audit/audit-log.ts';
import { RolecallError } from '../domain/errors.ts';
import { desiredAccount, managedRoles } from '../policy/desired-state.ts';
import type { Policy, PolicyTarget } from '../policy/policy.ts';
import type { AccountRegistry, ManagedAccount } from '../provisioning/account-registry.ts';
import type { DirectoryGroup, DirectoryView } from '../provisioning/directory-view.ts';
import { mapLimit } from '../provisioning/map-limit.ts';
import type { ActualAccount, DesiredAccount, Target } from '../provisioning/target.ts';
import type { AccessFilter } from './access-at.ts';
import type { AccessRow } from './access-row.ts';
import { compareRows } from './compare-rows.ts';
import { grantingGroups } from '../policy/granting-groups.ts';
import { accountKey, replayProvisioning, userKey, type ReplayedAccess } from './replay-provisioning.ts';

export interface AccessSources {
  policy: Policy;
  targets: (name: string) => Target | undefined;
  view: DirectoryView;
  accounts: AccountRegistry;
  audit: AuditLog;
}

/** Directory users read at once; each costs a user and a groups query. */
const DIRECTORY_CONCURRENCY = 8;
const USER_PAGE = 1000;

/**
 * Who holds which roles on which target now: every managed login's ACTUAL state (read from
 * the target), set against what the directory and policy want (desired state, as the planner
 * computes it), with the groups that grant each role and, from the audit trail, since when
 * the login holds it. Covers every login the target carries Rolecall's marker on, every
 * login recorded for a user, and every user the directory maps to the target but who has no
 * login there yet (rows with held false). Sorted by target, login, role.
 *
 * `grantedBy` names the directory groups that grant the role now; for a role held but no
 * longer granted, the groups the audit recorded when it was granted (the note says it is not
 * granted any more). A user filter matches the user id or userName. Throws when a policy
 * target has no Target (the review would silently miss it) or the filter names none.
 */
export async function accessNow(sources: AccessSources, filter: AccessFilter = {}): Promise<AccessRow[]> {
  const policyTargets = sources.policy.targets.filter((target) => filter.target === undefined || target.name === filter.target);
  if (filter.target !== undefined && policyTargets.length === 0) throw new RangeError(`no target named "${filter.target}" in the policy`);
  const replay = await replayProvisioning(sources.audit, { target: filter.target });
  const rows: AccessRow[] = [];
  for (const policyTarget of policyTargets) {
    const target = sources.targets(policyTarget.name);
    if (!target) throw new Error(`target "${policyTarget.name}" is in the policy but was not opened`);
    rows.push(...(await targetAccess(sources, policyTarget, target, replay, filter.user)));
  }
  const wanted = filter.user;
  return rows.filter((row) => wanted === undefined || row.userId === wanted || row.userName === wanted).sort(compareRows);
}

interface TargetContext {
  sources: AccessSources;
  policyTarget: PolicyTarget;
  target: Target;
  replay: ReplayedAccess;
  managedRoles: string[];
}

async function targetAccess(sources: AccessSources, policyTarget: PolicyTarget, target: Target, replay: ReplayedAccess, user: string | undefined): Promise<AccessRow[]> {
  const context: TargetContext = { sources, policyTarget, target, replay, managedRoles: managedRoles(sources.policy, policyTarget.name) };
  const managed = new Map((await target.listManaged()).map((account) => [account.login, account]));
  const recorded = await sources.accounts.list(policyTarget.name);
  const recordedByUser = new Map(recorded.filter((account) => account.tenantId === policyTarget.tenant).map((account) => [account.userId, account]));
  const userIds = await principalIds(sources.view, policyTarget.tenant, [...recordedByUser.keys()], user);

  const recordedByLogin = new Map(recorded.map((account) => [account.login, account]));
  const principals = await mapLimit(userIds, DIRECTORY_CONCURRENCY, (userId) => principalAccess(context, userId, recordedByUser, recordedByLogin, managed));
  const accounted = new Set(principals.map((principal) => principal.login));
  const stale = [...managed.values()].filter((account) => !accounted.has(account.login)).map((account) => staleAccess(context, account, recordedByLogin.get(account.login)));
  return [...principals.flatMap((principal) => principal.rows), ...stale.flat()];
}

/**
 * The users to examine: with a user filter naming a directory user id or a recorded one, just
 * that user; otherwise every user of the tenant (a userName is only found by looking) plus
 * every user with a recorded login (deleted users keep theirs until it is dropped).
 */
async function principalIds(view: DirectoryView, tenantId: string, recordedUserIds: string[], user: string | undefined): Promise<string[]> {
  if (user !== undefined && (recordedUserIds.includes(user) || (await view.user(tenantId, user)))) return [user];
  const ids = new Set(recordedUserIds);
  for (let after: string | null = null; ; ) {
    const page = await view.userIds(tenantId, after, USER_PAGE);
    for (const id of page) ids.add(id);
    if (page.length < USER_PAGE) break;
    after = page[page.length - 1]!;
  }
  return [...ids];
}

interface PrincipalAccess {
  rows: AccessRow[];
  /** The login whose state the rows show; unset when the user has none on the target. */
  login?: string;
}

async function principalAccess(
  context: TargetContext,
  userId: string,
  recordedByUser: Map<string, ManagedAccount>,
  recordedByLogin: Map<string, ManagedAccount>,
  managed: Map<string, ActualAccount>,
): Promise<PrincipalAccess> {
  const { sources, policyTarget, target, replay } = context;
  const recorded = recordedByUser.get(userId);
  const tenantId = policyTarget.tenant;
  const user = await sources.view.user(tenantId, userId);
  // desiredAccount only counts the user's own tenant's groups; naming groups must do the same.
  const groups = user ? (await sources.view.groupsOfUser(tenantId, userId)).filter((group) => group.tenantId === tenantId) : [];
  const userName = user?.userName ?? replay.userNames.get(userKey(tenantId, userId));
  const identity = { target: policyTarget.name, tenantId, userId, ...(userName === undefined ? {} : { userName }) };
  let desired: DesiredAccount | undefined;
  try {
    desired = desiredAccount(sources.policy, policyTarget, user, groups, (raw) => target.loginName(raw), recorded?.login, userId);
  } catch (error) {
    // A login template with no value for this user: the planner rejects the user's jobs the same way.
    if (!(error instanceof RolecallError)) throw error;
    const note = `no login can be named: ${error.message}`;
    return { rows: [{ ...identity, login: '', role: null, grantedBy: [], since: null, lastChange: null, canLogin: false, held: false, desired: true, matchesDirectory: false, note }] };
  }
  if (!desired) return { rows: [] };
  const holder = recorded ? undefined : recordedByLogin.get(desired.login);
  if (holder) {
    // As in planPrincipals: the login belongs to the user it is recorded for, whose rows (or its stale rows) show its state; this user holds nothing.
    const note = `the login is recorded for user ${holder.userId} of tenant ${holder.tenantId}; a new user never inherits another user's login`;
    return {
      rows: [{ ...identity, login: desired.login, role: null, grantedBy: [], since: null, lastChange: null, canLogin: false, held: false, desired: desired.state === 'present', matchesDirectory: false, note }],
    };
  }
  const actual = managed.get(desired.login) ?? (await target.readAccount(desired.login));
  const situation = user === undefined ? 'user deleted from the directory' : !user.active ? 'user inactive in the directory' : desired.state !== 'present' ? 'user is in no group mapped to this target' : undefined;
  return { rows: accountRows(context, { ...identity, login: desired.login }, desired, actual, groups, situation), login: desired.login };
}

/** A managed login no directory user accounts for: it should be offboarded as the target's option says. */
function staleAccess(context: TargetContext, actual: ActualAccount, recorded: ManagedAccount | undefined): AccessRow[] {
  const { policyTarget, replay } = context;
  const replayed = replay.accounts.get(accountKey(policyTarget.name, actual.login));
  const tenantId = recorded?.tenantId ?? replayed?.tenantId ?? undefined;
  const userId = recorded?.userId ?? replayed?.userId ?? undefined;
  const userName = userId === undefined ? undefined : replay.userNames.get(userKey(tenantId ?? null, userId));
  const identity = {
    target: policyTarget.name,
    login: actual.login,
    ...(tenantId === undefined ? {} : { tenantId }),
    ...(userId === undefined ? {} : { userId }),
    ...(userName === undefined ? {} : { userName }),
  };
  const desired = { state: policyTarget.offboarding === 'drop' ? ('absent' as const) : ('locked' as const), roles: [] };
  return accountRows(context, identity, desired, actual, [], 'stale: no directory user accounts for this login');
}

type Identity = Pick<AccessRow, 'target' | 'login' | 'tenantId' | 'userId' | 'userName'>;

/** One row per role held or desired (one role-less row when there is neither), each compared with the directory. */
function accountRows(
  context: TargetContext,
  identity: Identity,
  desired: Pick<DesiredAccount, 'state' | 'roles'>,
  actual: ActualAccount,
  groups: DirectoryGroup[],
  info: string | undefined,
): AccessRow[] {
  const { policyTarget, replay, sources } = context;
  const replayed = replay.accounts.get(accountKey(policyTarget.name, identity.login));
  const problems = accountProblems(desired.state, actual);
  const held = actual.exists ? actual.roles : [];
  const common = { ...identity, lastChange: replayed?.lastChange ?? null, canLogin: actual.exists && actual.canLogin };
  const row = (fields: Omit<AccessRow, keyof typeof common | 'matchesDirectory' | 'note'>, own: string[]): AccessRow => {
    const notes = [...problems, ...own, ...(info === undefined ? [] : [info])];
    return { ...common, ...fields, matchesDirectory: problems.length + own.length === 0, ...(notes.length === 0 ? {} : { note: notes.join('; ') }) };
  };

  const roles = [...new Set([...held, ...desired.roles])].sort();
  if (roles.length === 0) {
    // Role-less: "held" is a login that can log in, "desired" a login the directory wants usable.
    return [row({ role: null, grantedBy: [], since: null, held: common.canLogin, desired: desired.state === 'present' }, [])];
  }
  return roles.map((role) => {
    const isHeld = held.includes(role);
    const isDesired = desired.roles.includes(role);
    const recorded = replayed?.roles.get(role);
    const own: string[] = [];
    if (isHeld && !isDesired) {
      own.push(
        context.managedRoles.includes(role)
          ? 'role held but not granted by the directory: the next reconcile revokes it'
          : 'role held but not granted by the directory; the policy does not manage it, so Rolecall leaves it',
      );
    }
    if (isDesired && !isHeld) own.push('role granted by the directory but not held');
    const grantedBy = isDesired ? grantingGroups(sources.policy, policyTarget.name, role, groups) : (recorded?.grantedBy ?? []);
    return row({ role, grantedBy, since: isHeld ? (recorded?.since ?? null) : null, held: isHeld, desired: isDesired }, own);
  });
}

/** Where the login itself (not one of its roles) differs from what the directory wants; empty when it agrees. */
function accountProblems(state: DesiredAccount['state'], actual: ActualAccount): string[] {
  const problems: string[] = [];
  if (actual.exists && !actual.managed) problems.push('an account with this login exists but is not managed by Rolecall: left untouched');
  if (state === 'present' && !actual.exists) problems.push('login missing on the target');
  if (state === 'present' && actual.exists && !actual.canLogin) problems.push('login locked although the directory grants access');
  if (state !== 'present' && actual.canLogin) problems.push('login can log in although the directory grants no access');
  if (state === 'absent' && actual.exists) problems.push("login still exists although the target's offboarding is drop");
  if (state !== 'present' && actual.sessions > 0) problems.push(`${actual.sessions} open session(s) although the directory grants no access`);
  return problems;
}
