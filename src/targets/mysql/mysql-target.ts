import mysql from 'mysql2';
import type { Pool } from 'mysql2/promise';
import { chunks } from '../../domain/chunks.ts';
import { RolecallError, type Disposition } from '../../domain/errors.ts';
import { executePlan } from '../../provisioning/execute-plan.ts';
import type { ActualAccount, PlannedAccount, Step, StepResult, Target, TargetCapabilities } from '../../provisioning/target.ts';
import { batchablePlans, batchedResults } from '../batched-plans.ts';
import { shortName } from '../short-name.ts';
import { renderStatement, type SqlStatement } from '../sql-statement.ts';
import { pollUntilGone, runStep, type StepReport } from '../step-runner.ts';
import { account, maxLoginChars, mysqlSql, PER_USER_ROLE_PREFIX, perUserRole, storableCodePoint, type MysqlFlavor, type MysqlStatements } from './mysql-sql.ts';
import {
  countOtherHostAccounts,
  countSessions,
  countSessionsOf,
  readClaimedLogins,
  readExistingRoles,
  readGrants,
  readGrantsOf,
  readProvisionerPrivileges,
  sessionIds,
  toActualAccount,
  type LoginGrants,
  type MysqlQueryable,
} from './mysql-state.ts';

export interface MysqlTargetOptions {
  /** Connection of the provisioning account (privileges: see README / missingPrivileges). */
  url: string;
  flavor: MysqlFlavor;
  /** What a drop step does: drop the account, or only lock it (drop steps then lock and report 'skipped'). */
  offboarding: 'lock' | 'drop';
  /** Role granted to every per-user role: the claim that Rolecall manages the login. */
  markerRole?: string;
}

/** Steps applyPlans sends together (PLANS_PER_QUERY accounts per round trip): no session handling, no drop. */
const BATCHABLE: ReadonlySet<Step['op']> = new Set(['ensureRole', 'createLogin', 'grant', 'revoke', 'lock', 'unlock']);

/**
 * Plans per multi-statement query in applyPlans: one round trip for many accounts, while a
 * failing query sends only this many plans back to step-by-step application.
 */
const PLANS_PER_QUERY = 50;

/** How long endSessions waits for killed threads to leave the process list. */
const SESSION_DEADLINE_MS = 5000;

/** Client-side MySQL errors that mean "the server is unreachable or went away". */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT']);

const errno = (error: unknown): number | undefined =>
  typeof error === 'object' && error !== null && typeof (error as { errno?: unknown }).errno === 'number' ? (error as { errno: number }).errno : undefined;

/** Dispositions of MySQL/MariaDB server error numbers and mysql2 client errors. */
export function classifyMysqlError(error: unknown): Disposition {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return 'retry';
  switch (errno(error)) {
    case 1205: // lock wait timeout
    case 1213: // deadlock
    case 1040: // too many connections
    case 1053: // server shutdown
    case 2002:
    case 2003:
    case 2006:
    case 2013: // cannot connect / server gone / lost connection
      return 'retry';
    case 1396: // operation failed for an account (it vanished or appeared meanwhile): re-read and re-plan
    case 1959: // invalid role specification: unknown role
      return 'conflict';
    case 1044:
    case 1045:
    case 1142:
    case 1227: // access denied / needs a privilege the provisioner lacks
    case 1698:
    case 4151: // the provisioning account is locked
      return 'fatal';
    default:
      return 'reject';
  }
}

export class MysqlTarget implements Target {
  readonly kind: MysqlFlavor;
  readonly capabilities: TargetCapabilities;
  readonly name: string;
  readonly offboarding: 'lock' | 'drop';
  readonly markerRole: string;
  readonly #sql: MysqlStatements;
  readonly #pool: Pool;
  /**
   * The one connection applyPlans sends its multi-statement queries on. One, not several: the
   * server serialises account DDL on its privilege tables, so parallel streams only contend
   * (seen here: a 2,000-user sync took 2.0x the raw script with two, 1.2x with one).
   */
  readonly #batchPool: Pool;
  readonly #db: MysqlQueryable;

  constructor(name: string, options: MysqlTargetOptions) {
    this.name = name;
    this.kind = options.flavor;
    this.offboarding = options.offboarding;
    this.markerRole = options.markerRole ?? 'rolecall_managed';
    this.#sql = mysqlSql(options.flavor);
    // These engines count name limits in characters, not bytes; the capability carries that number.
    this.capabilities = { sessions: true, maxLoginBytes: maxLoginChars(options.flavor) };
    this.#pool = openPool(options.url, { connectionLimit: 4 });
    this.#batchPool = openPool(options.url, { connectionLimit: 1, multipleStatements: true });
    this.#db = this.#pool;
  }

  async init(): Promise<void> {
    const statement = this.#sql.createRole(this.markerRole);
    await this.#db.query(statement.text);
  }

  loginName(raw: string): string {
    const limit = maxLoginChars(this.kind);
    return shortName(raw, (name) => [...name].length <= limit, storableCodePoint);
  }

  async readAccount(login: string): Promise<ActualAccount> {
    return (await this.readAccounts([login])).get(login)!;
  }

  async readAccounts(logins: string[]): Promise<Map<string, ActualAccount>> {
    // Sessions are counted alongside (a processlist read takes no lock the account DDL waits on),
    // for absent accounts too: a dropped user's open sessions outlive it, and offboarding must
    // still end them. Both reads settle before either failure is thrown, so no connection
    // attempt outlives the call.
    const [read, counted] = await Promise.allSettled([readGrantsOf(this.#db, this.kind, logins), countSessionsOf(this.#db, logins)]);
    if (read.status === 'rejected') throw read.reason;
    if (counted.status === 'rejected') throw counted.reason;
    const [grants, sessions] = [read.value, counted.value];
    return new Map([...grants].map(([login, g]) => [login, toActualAccount(login, g, this.markerRole, sessions.get(login) ?? 0)]));
  }

  async listManaged(): Promise<ActualAccount[]> {
    const logins = (await readClaimedLogins(this.#db, this.kind, this.markerRole)).sort();
    const accounts = await this.readAccounts(logins);
    return logins.map((login) => accounts.get(login)!).filter((actual) => actual.exists);
  }

  /**
   * Plans made only of role and login steps are sent together, up to PLANS_PER_QUERY plans per
   * multi-statement query (the server's account DDL and the round trips are what cost here;
   * see targets.md), with the statements apply() would send, planned against the state just
   * read: roles created once for the whole batch, the default role set once per account
   * instead of after every grant, and a new login's CREATE USER first and without IF NOT
   * EXISTS, so an account that appeared meanwhile stops the query before anything of that plan
   * is claimed. (The statements of one query run in order on the server, so the claim-first
   * order apply() keeps against a crash between its round trips is not needed here.) Account
   * statements are not transactional, and the server stops a query at its first failing
   * statement: every plan of a query that fails runs again step by step through apply(), whose
   * statements are idempotent and which re-reads the account first. Plans that end sessions or
   * drop a login always run step by step.
   */
  async applyPlans(plans: PlannedAccount[]): Promise<StepResult[][]> {
    const results: (StepResult[] | undefined)[] = plans.map(() => undefined);
    const texts = plans.map((plan) => this.#batchStatements(plan));
    const roles = await this.#ensureRoles(plans.flatMap((plan, i) => (texts[i] ? plan.steps.flatMap((step) => (step.op === 'ensureRole' ? [step.role] : [])) : [])))
      .catch(() => new Map<string, StepResult>());
    for (const group of chunks(batchablePlans(plans, texts, roles), PLANS_PER_QUERY)) {
      const flat = group.flatMap((i) => texts[i]!.flat());
      const started = performance.now();
      try {
        if (flat.length > 0) await this.#batchPool.query(flat.join(';\n'));
      } catch {
        continue;
      }
      const each = (performance.now() - started) / Math.max(1, flat.length);
      for (const i of group) results[i] = batchedResults(plans[i]!.steps, texts[i]!, roles, each);
    }
    for (const [i, plan] of plans.entries()) results[i] ??= await executePlan(this, plan.steps);
    return results as StepResult[][];
  }

  /** Each role once: looked up together, the missing ones created through apply(); results by name. */
  async #ensureRoles(roles: string[]): Promise<Map<string, StepResult>> {
    const unique = [...new Set(roles)];
    const out = new Map<string, StepResult>();
    if (unique.length === 0) return out;
    const existing = new Set(await readExistingRoles(this.#db, this.kind, unique));
    for (const role of unique) {
      out.set(role, existing.has(role)
        ? { step: { op: 'ensureRole', role }, outcome: 'applied', statements: [], durationMs: 0, message: 'role already existed' }
        : await this.apply({ op: 'ensureRole', role }));
    }
    return out;
  }

  /**
   * Per step, the statements of a batched plan; undefined when the plan must run step by step:
   * a step other than role and login changes, one of Rolecall's own roles, an existing account
   * whose per-user role is not in effect (apply() repairs that), or a name the server refuses.
   */
  #batchStatements(plan: PlannedAccount): string[][] | undefined {
    const { login, actual, steps } = plan;
    if (!steps.every((step) => BATCHABLE.has(step.op))) return undefined;
    if (steps.some((step) => 'role' in step && (step.role === this.markerRole || step.role.startsWith(PER_USER_ROLE_PREFIX)))) return undefined;
    if (actual.exists && !actual.grantedVia?.perUserRoleActive) return undefined;
    const s = this.#sql;
    try {
      const perStep = steps.map((step): SqlStatement[] => {
        switch (step.op) {
          case 'ensureRole':
            return [];
          case 'createLogin': {
            // The account first, strictly: one that appeared since the read must stop the plan BEFORE
            // the claim exists, or apply() would take the claim for Rolecall's and adopt the account.
            const perUser = perUserRole(step.login);
            return [s.createUserStrict(step.login), s.createRole(perUser), s.grantToRole(this.markerRole, perUser), s.grantToUser(perUser, step.login)];
          }
          case 'grant':
          case 'revoke':
            return this.#plan(step, actual).filter((st) => st.text !== s.setDefaultRole(step.login).text);
          default:
            return this.#plan(step, actual);
        }
      });
      // The default role once, after the account's last role change (it only names the per-user
      // role): for a new login, and after a revoke (default_role survives REVOKE, targets.md). A
      // grant to an account whose per-user role is already its default needs none.
      const resets = steps.some((step) => step.op === 'createLogin' || step.op === 'revoke');
      const last = steps.findLastIndex((step) => step.op === 'createLogin' || step.op === 'grant' || step.op === 'revoke');
      if (resets && last >= 0) perStep[last]!.push(s.setDefaultRole(login));
      return perStep.map((list) => list.map((st) => st.text));
    } catch {
      return undefined;
    }
  }

  existingRoles(roles: string[]): Promise<string[]> {
    return readExistingRoles(this.#db, this.kind, roles);
  }

  statements(step: Step, actual?: ActualAccount): string[] {
    return this.#plan(step, actual).map(renderStatement);
  }

  /** Statements of each step in its usual case; revoke and drop adapt to where a grant actually sits. */
  #plan(step: Step, actual?: ActualAccount): SqlStatement[] {
    const s = this.#sql;
    switch (step.op) {
      case 'ensureRole':
        return [s.createRole(step.role)];
      case 'createLogin':
        return this.#createStatements(step.login);
      case 'grant':
        return [s.grantToRole(step.role, perUserRole(step.login)), s.setDefaultRole(step.login)];
      case 'revoke': {
        // Where the grant sits decides the REVOKE, as in #revoke; without a read state, the usual place.
        const via = actual?.grantedVia;
        if (!via) return [s.revokeFromRole(step.role, perUserRole(step.login)), s.setDefaultRole(step.login)];
        const revokes = [
          ...(via.perUserRole.includes(step.role) ? [s.revokeFromRole(step.role, perUserRole(step.login))] : []),
          ...(via.direct.includes(step.role) ? [s.revokeFromUser(step.role, step.login)] : []),
        ];
        return revokes.length === 0 ? [] : [...revokes, s.setDefaultRole(step.login)];
      }
      case 'lock':
        return [s.setLocked(step.login, true)];
      case 'unlock':
        return [s.setLocked(step.login, false)];
      case 'endSessions':
        return [{ text: `/* for each ID in information_schema.PROCESSLIST WHERE USER = ${account(step.login)} */ KILL CONNECTION <id>`, values: [] }];
      case 'drop':
        if (this.offboarding === 'lock') return [s.setLocked(step.login, true)];
        return [s.revokeFromUser(perUserRole(step.login), step.login), s.dropUser(step.login), s.dropRole(perUserRole(step.login))];
    }
  }

  /**
   * Claim first (per-user role carrying the marker), then the user: every statement is idempotent,
   * so a run cut short anywhere is completed by the next one and never looks unmanaged.
   */
  #createStatements(login: string): SqlStatement[] {
    const s = this.#sql;
    const perUser = perUserRole(login);
    return [s.createRole(perUser), s.grantToRole(this.markerRole, perUser), s.createUser(login), s.grantToUser(perUser, login), s.setDefaultRole(login)];
  }

  apply(step: Step): Promise<StepResult> {
    return runStep(step, classifyMysqlError, async (sent) => {
      const send = async (statement: SqlStatement) => {
        sent.push(renderStatement(statement));
        await this.#db.query(statement.text);
      };
      const s = this.#sql;
      switch (step.op) {
        case 'ensureRole':
          // A mapped role named like a per-user role would later be taken for that login's claim.
          this.#refuseInternalRole(step.role);
          await send(s.createRole(step.role));
          return { outcome: 'applied' };
        case 'createLogin': {
          // Checked before anything runs: CREATE USER IF NOT EXISTS would silently adopt someone else's account.
          const grants = await readGrants(this.#db, this.kind, step.login);
          if (grants.exists && !grants.viaPerUser.includes(this.markerRole)) throw this.#unmanaged(step.login);
          for (const statement of this.#createStatements(step.login)) await send(statement);
          return { outcome: 'applied', ...(grants.exists ? { message: 'login already existed' } : {}) };
        }
        case 'grant': {
          this.#refuseInternalRole(step.role);
          const grants = await this.#requireManaged(step.login);
          // A create cut short between CREATE USER and GRANT of the per-user role (a crash) leaves a
          // managed login without it; SET DEFAULT ROLE would then fail (1959) on every retry.
          if (!grants.direct.includes(perUserRole(step.login))) await send(s.grantToUser(perUserRole(step.login), step.login));
          for (const statement of this.#plan(step)) await send(statement);
          return { outcome: 'applied' };
        }
        case 'revoke':
          return this.#revoke(step.login, step.role, send);
        case 'lock':
        case 'unlock':
          await this.#requireManaged(step.login);
          await send(s.setLocked(step.login, step.op === 'lock'));
          return { outcome: 'applied' };
        case 'endSessions':
          return this.#endSessions(step.login, send);
        case 'drop':
          return this.#drop(step.login, send);
      }
    });
  }

  async #revoke(login: string, role: string, send: (statement: SqlStatement) => Promise<void>): Promise<StepReport> {
    this.#refuseInternalRole(role);
    const grants = await this.#requireManaged(login);
    const s = this.#sql;
    const statements = [
      ...(grants.viaPerUser.includes(role) ? [s.revokeFromRole(role, perUserRole(login))] : []),
      ...(grants.direct.includes(role) ? [s.revokeFromUser(role, login)] : []),
    ];
    if (statements.length === 0) return { outcome: 'skipped', message: `${login} does not hold ${role}` };
    for (const statement of statements) await send(statement);
    // default_role survives REVOKE (targets.md [seen]): set it again so the login keeps what is left.
    await send(s.setDefaultRole(login));
    return { outcome: 'applied' };
  }

  async #endSessions(login: string, send: (statement: SqlStatement) => Promise<void>): Promise<StepReport> {
    const grants = await readGrants(this.#db, this.kind, login);
    if (grants.exists && !grants.viaPerUser.includes(this.markerRole)) throw this.#unmanaged(login);
    // PROCESSLIST knows the user name only, not the host part: with another account of that name
    // ('u'@'localhost'), killing by name would end sessions of an account Rolecall does not manage.
    if ((await countOtherHostAccounts(this.#db, this.kind, login)) > 0) {
      throw new RolecallError('conflict', `another account named ${login} exists with a different host; its sessions cannot be told apart`);
    }
    const ids = await sessionIds(this.#db, login);
    // The account is gone (dropped by this offboarding or by hand), but the server keeps a dropped
    // user's sessions open: with no account of that name left, they can only be that user's.
    if (!grants.exists && ids.length === 0) return { outcome: 'skipped', message: `${login} does not exist and has no open session` };
    for (const id of ids) {
      try {
        await send(this.#sql.killConnection(id));
      } catch (error) {
        if (errno(error) !== 1094) throw error; // unknown thread: it ended on its own meanwhile
      }
    }
    const left = await pollUntilGone(() => countSessions(this.#db, login), SESSION_DEADLINE_MS);
    if (left > 0) throw new RolecallError('retry', `${left} session(s) of ${login} still open after ${SESSION_DEADLINE_MS} ms`);
    return { outcome: 'applied' };
  }

  /**
   * REVOKE the login's roles first (DROP USER on a user holding role grants runs at ~110/s, after
   * REVOKE at ~2,500/s, targets.md [seen]), then drop the user, then its per-user role (the claim
   * goes last, so a run cut short is finished by the next one).
   */
  async #drop(login: string, send: (statement: SqlStatement) => Promise<void>): Promise<StepReport> {
    const grants = await readGrants(this.#db, this.kind, login);
    const claimed = grants.viaPerUser.includes(this.markerRole);
    const s = this.#sql;
    if (!grants.exists) {
      if (!claimed || this.offboarding === 'lock') return { outcome: 'skipped', message: `${login} does not exist` };
      await send(s.dropRole(perUserRole(login)));
      return { outcome: 'applied', message: `${login} was already gone; removed its per-user role` };
    }
    if (!claimed) throw this.#unmanaged(login);
    if (this.offboarding === 'lock') {
      await send(s.setLocked(login, true));
      return { outcome: 'skipped', message: `offboarding is 'lock' on ${this.name}: ${login} locked, not dropped` };
    }
    const direct = [...grants.direct].sort((a, b) => Number(b === perUserRole(login)) - Number(a === perUserRole(login)));
    for (const role of direct) await send(s.revokeFromUser(role, login));
    await send(s.dropUser(login));
    await send(s.dropRole(perUserRole(login)));
    return { outcome: 'applied' };
  }

  async #requireManaged(login: string): Promise<LoginGrants> {
    const grants = await readGrants(this.#db, this.kind, login);
    if (!grants.exists) throw new RolecallError('conflict', `login ${login} does not exist on ${this.name}`);
    if (!grants.viaPerUser.includes(this.markerRole)) throw this.#unmanaged(login);
    return grants;
  }

  #unmanaged(login: string): RolecallError {
    return new RolecallError('conflict', `${login} exists on ${this.name} but carries no ${this.markerRole} marker: not managed by Rolecall, left untouched`);
  }

  /** The marker and per-user roles are Rolecall's bookkeeping, never a mapped role. */
  #refuseInternalRole(role: string): void {
    if (role === this.markerRole || role.startsWith(PER_USER_ROLE_PREFIX)) {
      throw new RolecallError('reject', `${role} is Rolecall's own role on ${this.name}, not a mappable role`);
    }
  }

  async missingPrivileges(): Promise<string[]> {
    return missingMysqlPrivileges(this.kind, await readProvisionerPrivileges(this.#db));
  }

  async close(): Promise<void> {
    await Promise.all([this.#pool.end(), this.#batchPool.end()]);
  }
}

/**
 * String literals are escaped with backslashes (mysql2 escape): a session in NO_BACKSLASH_ESCAPES
 * would read them differently, so every connection leaves that mode before it is used.
 */
function openPool(url: string, options: { connectionLimit: number; multipleStatements?: boolean }): Pool {
  const core = mysql.createPool({ uri: url, connectTimeout: 10_000, ...options });
  core.on('connection', (connection) => {
    connection.query("SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')", (error) => {
      if (error) connection.destroy();
    });
  });
  return core.promise();
}

/**
 * What the provisioner needs (targets.md [seen] for MariaDB): CREATE USER (also creates and drops
 * roles), CONNECTION ADMIN + PROCESS to see and end sessions, SELECT on mysql.* for state, and on
 * MariaDB UPDATE on mysql.* (SET DEFAULT ROLE ... FOR another user fails with 1044 without it).
 * ADMIN OPTION on the roles it grants comes with creating them on MariaDB; MySQL 8 gives the
 * creator no ADMIN OPTION, so it needs ROLE_ADMIN [docs].
 */
export function missingMysqlPrivileges(flavor: MysqlFlavor, granted: { global: string[]; onMysqlSchema: string[] }): string[] {
  const global = new Set(granted.global);
  const onMysql = (privilege: string) => global.has(privilege) || granted.onMysqlSchema.includes(privilege);
  const needed: [string, boolean][] =
    flavor === 'mariadb'
      ? [
          ['CREATE USER', global.has('CREATE USER')],
          ['CONNECTION ADMIN', global.has('CONNECTION ADMIN') || global.has('SUPER')],
          ['PROCESS', global.has('PROCESS')],
          ['SELECT ON mysql.*', onMysql('SELECT')],
          ['UPDATE ON mysql.*', onMysql('UPDATE')],
        ]
      : [
          ['CREATE USER', global.has('CREATE USER')],
          ['ROLE_ADMIN', global.has('ROLE_ADMIN')],
          ['CONNECTION_ADMIN', global.has('CONNECTION_ADMIN')],
          ['PROCESS', global.has('PROCESS')],
          ['SELECT ON mysql.*', onMysql('SELECT')],
        ];
  return needed.filter(([, present]) => !present).map(([name]) => name);
}
