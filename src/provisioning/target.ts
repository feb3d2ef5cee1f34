/**
 * The narrow interface every target kind implements (src/targets/<kind>/<kind>-target.ts).
 * Declared here, by the code that uses it. The planner is generic; a target only reads
 * state, turns a step into its exact statements, and applies one step.
 */

/** What the directory and policy say an account must look like on one target. */
export interface DesiredAccount {
  tenantId: string;
  /** Directory user id (stable key; names can change). */
  userId: string;
  /** Login name on the target, already mapped to the target's limits (see Target.loginName). */
  login: string;
  /** present: can log in with exactly `roles`; locked: exists, cannot log in, no managed roles; absent: dropped. */
  state: 'present' | 'locked' | 'absent';
  /** Sorted, de-duplicated role names. Empty unless state is 'present'. */
  roles: string[];
}

/** What the target actually has for one login. */
export interface ActualAccount {
  login: string;
  exists: boolean;
  /** Carries Rolecall's marker. An unmanaged account is reported, never changed. */
  managed: boolean;
  canLogin: boolean;
  /** Roles granted to the login (directly or through its per-user role), sorted. */
  roles: string[];
  /** Open sessions of the login. */
  sessions: number;
  /**
   * Where each role is granted, for targets that grant through an intermediate role (MySQL and
   * MariaDB: a per-user role), so that a dry-run names the exact REVOKE that will run;
   * `perUserRoleActive`: the login holds that role as its default (its roles count).
   */
  grantedVia?: { direct: string[]; perUserRole: string[]; perUserRoleActive: boolean };
}

export type Step =
  | { op: 'ensureRole'; role: string }
  | { op: 'createLogin'; login: string }
  | { op: 'grant'; login: string; role: string }
  | { op: 'revoke'; login: string; role: string }
  | { op: 'lock'; login: string }
  | { op: 'unlock'; login: string }
  | { op: 'endSessions'; login: string }
  | { op: 'drop'; login: string };

export type StepOutcome = 'applied' | 'skipped' | 'failed';

export interface StepResult {
  step: Step;
  outcome: StepOutcome;
  /** Statements or API calls actually sent, secrets redacted. */
  statements: string[];
  durationMs: number;
  /** For failed: what should happen next, and why. For skipped: why (e.g. drop blocked -> locked instead). */
  disposition?: 'retry' | 'conflict' | 'reject' | 'fatal';
  message?: string;
}

/** One account's steps, as planned against `actual` (read just before), for Target.applyPlans. */
export interface PlannedAccount {
  login: string;
  actual: ActualAccount;
  steps: Step[];
}

export interface TargetCapabilities {
  /** Can end live sessions. */
  sessions: boolean;
  /** Longest login name the engine accepts, in bytes (PostgreSQL 63, MariaDB 128 chars, MySQL 32). */
  maxLoginBytes: number;
}

export interface Target {
  readonly name: string;
  readonly kind: string;
  readonly capabilities: TargetCapabilities;
  /** Creates the marker role (and graveyard role where used); idempotent. */
  init(): Promise<void>;
  /** Maps a policy login name to a valid one on this target (long names -> prefix + hash), deterministically. */
  loginName(raw: string): string;
  readAccount(login: string): Promise<ActualAccount>;
  /** readAccount() for many logins at once (one round of queries); every login asked for is in the map. */
  readAccounts(logins: string[]): Promise<Map<string, ActualAccount>>;
  /** Every account carrying the marker (for stale detection and access reports). */
  listManaged(): Promise<ActualAccount[]>;
  /** Roles that exist on the target, of those asked for. */
  existingRoles(roles: string[]): Promise<string[]>;
  /** The exact statements `apply(step)` would send to an account in state `actual`, for dry-run plans. */
  statements(step: Step, actual?: ActualAccount): string[];
  /** Applies one step; never throws: failures come back as a failed StepResult. */
  apply(step: Step): Promise<StepResult>;
  /**
   * Applies several accounts' plans and returns one result per step of each, in order, with
   * executePlan's semantics (after a failed step only safety steps run). A target may run
   * plans together (one transaction, fewer round trips); executePlan for each plan in turn is
   * the plain way. Never throws.
   */
  applyPlans(plans: PlannedAccount[]): Promise<StepResult[][]>;
  /** Privileges the provisioning account lacks for what this target must do; empty when complete. */
  missingPrivileges(): Promise<string[]>;
  close(): Promise<void>;
}
