/**
 * The access policy after loading: validated, defaults applied, secrets resolved.
 * The file format (YAML or JSON) is described in src/policy/policy-schema.ts.
 */

export const TARGET_KINDS = ['postgres', 'mysql', 'mssql', 'azure-postgres', 'azure-mysql', 'cosmos', 'synapse', 'app-service'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export const MYSQL_FLAVORS = ['mariadb', 'mysql'] as const;
export type MysqlFlavor = (typeof MYSQL_FLAVORS)[number];

export const OFFBOARDING_MODES = ['lock', 'drop'] as const;
export type OffboardingMode = (typeof OFFBOARDING_MODES)[number];

export interface Policy {
  version: 1;
  targets: PolicyTarget[];
  mappings: PolicyMapping[];
}

export interface PolicyTarget {
  /** Unique within the policy, [a-z0-9_-]+. */
  name: string;
  kind: TargetKind;
  /** Set only for kind 'mysql' (default 'mariadb'). */
  flavor?: MysqlFlavor;
  connection: PolicyConnection;
  /** What happens to a deleted user's login: 'lock' keeps it disabled, 'drop' removes it. */
  offboarding: OffboardingMode;
  /** Login-name template, see src/provisioning/login-template.ts. */
  login: string;
  /** The Rolecall tenant whose directory feeds this target. */
  tenant: string;
  /** Maximum parallel jobs against this target. */
  concurrency: number;
  /** The role marking managed accounts (the target's default when absent). */
  markerRole?: string;
  /** PostgreSQL: where objects of dropped logins go (the target's default when absent). */
  graveyardRole?: string;
}

export interface PolicyConnection {
  /** The resolved URL. May hold a password: log it only through redactUrl. */
  url: string;
  /** Where the URL came from, safe to show: "inline", "env ANALYTICS_DB_URL", "file /run/secrets/x". */
  source: string;
}

/** How a mapping names its directory group. */
export interface GroupSelector {
  by: 'displayName' | 'externalId' | 'id';
  value: string;
}

export interface PolicyMapping {
  group: GroupSelector;
  /** Target name -> roles granted on it to every member of the group. */
  grants: Record<string, string[]>;
}
