/**
 * One (target, login, role) a login held at some moment, as the audit trail tells it
 * (accessAt). `role` is null on the one row of an account that held no role, so a locked or
 * orphan login still shows up in a review.
 */
export interface PastAccessRow {
  target: string;
  tenantId?: string;
  /** Directory user id the login was provisioned for, when known. */
  userId?: string;
  /** The user's userName (at the time, for past rows), when known. */
  userName?: string;
  login: string;
  role: string | null;
  /** displayNames of the directory groups that grant (or, per the audit, granted) the role. */
  grantedBy: string[];
  /** Time of the applied grant of this role to this login that is in force; null when the audit does not know it. */
  since: string | null;
  /** Time of the last applied step that changed this login (create, grant, revoke, lock, unlock); null when unknown. */
  lastChange: string | null;
  canLogin: boolean;
}

/**
 * One (target, login, role) now: the target's actual state set against the directory's
 * desired state. A role held but not desired, or desired but not held, gets a row of its own
 * with `held`/`desired` telling which side has it.
 */
export interface AccessRow extends PastAccessRow {
  /** The login holds the role on the target (for a role-less row: the login exists and can log in). */
  held: boolean;
  /** The directory and policy grant the role (for a role-less row: the login should be able to log in). */
  desired: boolean;
  /** Role and account state agree with the directory (held === desired, login enabled exactly when it should be). */
  matchesDirectory: boolean;
  /** Why the row does not match, or what a reviewer should know (user inactive, deleted, stale login). */
  note?: string;
}
