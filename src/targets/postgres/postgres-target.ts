import pg from 'pg';
import { RolecallError, type Disposition } from '../../domain/errors.ts';
import { executePlan } from '../../provisioning/execute-plan.ts';
import type { ActualAccount, PlannedAccount, Step, StepResult, Target, TargetCapabilities } from '../../provisioning/target.ts';
import { batchablePlans, batchedResults } from '../batched-plans.ts';
import { shortName } from '../short-name.ts';
import { renderStatement, type SqlStatement } from '../sql-statement.ts';
import { pollUntilGone, runStep, type StepReport } from '../step-runner.ts';
import { inDatabase, inEveryDatabase, POSTGRES_MAX_IDENTIFIER_BYTES, postgresSql } from './postgres-sql.ts';
import {
  countSessions,
  databaseExists,
  readAccounts,
  readConnectableDatabases,
  readExistingRoles,
  readManagedAccounts,
  readProvisionerPrivileges,
  type PgQueryable,
} from './postgres-state.ts';

export interface PostgresTargetOptions {
  /** Connection of the provisioning role (CREATEROLE + pg_signal_backend, never a superuser). */
  url: string;
  /** What a drop step does: drop the role, or only lock it (drop steps then lock and report 'skipped'). */
  offboarding: 'lock' | 'drop';
  /** NOLOGIN role whose members are the logins Rolecall manages. */
  markerRole?: string;
  /** NOLOGIN role that receives objects owned by dropped logins (never an admin: functions would run with its rights). */
  graveyardRole?: string;
}

/** Steps applyPlans runs together in one transaction: no session handling, no drop. */
const BATCHABLE: ReadonlySet<Step['op']> = new Set(['ensureRole', 'createLogin', 'grant', 'revoke', 'lock', 'unlock']);

/** How long endSessions waits for terminated backends to leave pg_stat_activity. */
const SESSION_DEADLINE_MS = 5000;

const pgCode = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : undefined;

/**
 * Dispositions of PostgreSQL errors (SQLSTATE classes, and Node socket errors for a server that
 * is down or unreachable). 42710 duplicate is decided per step (treated as applied).
 */
export function classifyPostgresError(error: unknown): Disposition {
  const code = pgCode(error);
  if (code === undefined) {
    const message = error instanceof Error ? error.message : String(error);
    // pg raises these without a code when a connection attempt times out or the socket closes.
    return /timeout|Connection terminated/i.test(message) ? 'retry' : 'reject';
  }
  if (/^E[A-Z]+$/.test(code)) return 'retry'; // Node socket errors: ECONNREFUSED, ETIMEDOUT, ...
  if (code === '40P01' || code === '40001' || code === '55P03' || code === '57014') return 'retry'; // deadlock, serialization, lock timeout, statement timeout
  if (code.startsWith('08') || code.startsWith('53') || code.startsWith('57P')) return 'retry'; // connection, resources, shutdown
  if (code === '42704') return 'conflict'; // unknown role: re-read and re-plan
  if (code === '42501' || code === '28000' || code === '28P01') return 'fatal'; // privileges or credentials of the provisioner
  return 'reject';
}

export class PostgresTarget implements Target {
  readonly kind = 'postgres';
  readonly capabilities: TargetCapabilities = { sessions: true, maxLoginBytes: POSTGRES_MAX_IDENTIFIER_BYTES };
  readonly name: string;
  readonly offboarding: 'lock' | 'drop';
  readonly markerRole: string;
  readonly graveyardRole: string;
  readonly #url: string;
  readonly #pool: pg.Pool;
  /** Roles seen to exist; roles are rarely dropped, and a grant that finds one gone evicts it. */
  readonly #knownRoles = new Set<string>();
  readonly #db: PgQueryable;

  constructor(name: string, options: PostgresTargetOptions) {
    this.name = name;
    this.offboarding = options.offboarding;
    this.markerRole = options.markerRole ?? 'rolecall_managed';
    this.graveyardRole = options.graveyardRole ?? 'rolecall_graveyard';
    this.#url = options.url;
    this.#pool = new pg.Pool({ connectionString: options.url, max: 4, connectionTimeoutMillis: 10_000 });
    // An idle pooled client whose server goes away must not crash the process; the next query fails instead.
    this.#pool.on('error', () => {});
    this.#db = this.#pool;
  }

  async init(): Promise<void> {
    for (const role of [this.markerRole, this.graveyardRole]) {
      try {
        await this.#send(this.#db, postgresSql.createGroupRole(role));
      } catch (error) {
        if (pgCode(error) !== '42710') throw error;
      }
    }
    // REASSIGN OWNED ... TO graveyard needs membership in the graveyard role (targets.md [seen]).
    await this.#send(this.#db, postgresSql.joinRole(this.graveyardRole));
  }

  loginName(raw: string): string {
    return shortName(raw, (name) => Buffer.byteLength(name, 'utf8') <= POSTGRES_MAX_IDENTIFIER_BYTES, (c) => c !== '\u0000');
  }

  async readAccount(login: string): Promise<ActualAccount> {
    return (await this.readAccounts([login])).get(login)!;
  }

  readAccounts(logins: string[]): Promise<Map<string, ActualAccount>> {
    return readAccounts(this.#db, this.markerRole, logins);
  }

  /**
   * Plans made only of role and login steps run together: their roles first (looked up in one
   * query, created one by one through apply(), so parallel jobs never race inside a
   * transaction), then every other statement of every plan as ONE multi-statement query, which
   * PostgreSQL runs as one transaction. The statements are exactly those apply() would send,
   * planned against the state just read. If that transaction fails (an account changed
   * meanwhile, a role vanished) nothing of it was applied, and each of its plans runs step by
   * step with apply()'s own checks. Plans that end sessions or drop a login always do.
   */
  async applyPlans(plans: PlannedAccount[]): Promise<StepResult[][]> {
    const results: (StepResult[] | undefined)[] = plans.map(() => undefined);
    // Per plan and step, the statements to send; undefined for a plan that runs step by step.
    const texts = plans.map((plan) => this.#batchStatements(plan.steps));
    // An unreachable server leaves no role known: every plan then fails step by step, with the reason.
    const roles = await this.#ensureRoles(plans.flatMap((plan, i) => (texts[i] ? plan.steps.flatMap((step) => (step.op === 'ensureRole' ? [step.role] : [])) : [])))
      .catch(() => new Map<string, StepResult>());
    const together = batchablePlans(plans, texts, roles);
    const flat = together.flatMap((i) => texts[i]!.flat());
    const ms = await this.#inOneTransaction(flat);
    if (ms !== undefined) {
      const each = ms / Math.max(1, flat.length);
      for (const i of together) results[i] = batchedResults(plans[i]!.steps, texts[i]!, roles, each);
    }
    for (const [i, plan] of plans.entries()) results[i] ??= await executePlan(this, plan.steps);
    return results as StepResult[][];
  }

  /** The statements of each step when every step can run in a batch (no bound values, no sessions, no drop). */
  #batchStatements(steps: Step[]): string[][] | undefined {
    if (!steps.every((step) => BATCHABLE.has(step.op))) return undefined;
    // Granting or revoking Rolecall's own roles is refused by apply(), with its reason.
    if (steps.some((step) => 'role' in step && step.op !== 'ensureRole' && (step.role === this.markerRole || step.role === this.graveyardRole))) return undefined;
    try {
      const planned = steps.map((step) => (step.op === 'ensureRole' ? [] : this.#plan(step)));
      return planned.every((list) => list.every((statement) => statement.values.length === 0)) ? planned.map((list) => list.map((st) => st.text)) : undefined;
    } catch {
      // A name the target refuses (too long): apply() reports it as that step's failure.
      return undefined;
    }
  }

  /**
   * Runs statements (none with bound values) as one simple-protocol query: one round trip, one
   * implicit transaction that PostgreSQL rolls back whole on any error, leaving the connection
   * clean. Returns how long it took, or undefined when it failed.
   */
  async #inOneTransaction(statements: string[]): Promise<number | undefined> {
    if (statements.length === 0) return 0;
    const started = performance.now();
    try {
      await this.#db.query(statements.join(';\n'));
      return performance.now() - started;
    } catch {
      return undefined;
    }
  }

  /** Each role once, through apply()'s ensureRole (cached lookups, duplicate-safe), its result by name. */
  async #ensureRoles(roles: string[]): Promise<Map<string, StepResult>> {
    const out = new Map<string, StepResult>();
    const unknown = [...new Set(roles)].filter((role) => !this.#knownRoles.has(role));
    if (unknown.length > 0) for (const role of await readExistingRoles(this.#db, unknown)) this.#knownRoles.add(role);
    for (const role of new Set(roles)) out.set(role, await this.apply({ op: 'ensureRole', role }));
    return out;
  }

  listManaged(): Promise<ActualAccount[]> {
    return readManagedAccounts(this.#db, this.markerRole);
  }

  existingRoles(roles: string[]): Promise<string[]> {
    return readExistingRoles(this.#db, roles);
  }

  statements(step: Step): string[] {
    return this.#plan(step).map(renderStatement);
  }

  /** The statements of each step, in order; drop's per-database part is rendered as "in every database". */
  #plan(step: Step): SqlStatement[] {
    switch (step.op) {
      case 'ensureRole':
        return [postgresSql.createGroupRole(step.role)];
      case 'createLogin':
        return [postgresSql.createLogin(step.login, this.markerRole)];
      case 'grant':
        return [postgresSql.grant(step.role, step.login)];
      case 'revoke':
        return [postgresSql.revoke(step.role, step.login)];
      case 'lock':
        return [postgresSql.setLogin(step.login, false)];
      case 'unlock':
        return [postgresSql.setLogin(step.login, true)];
      case 'endSessions':
        return [postgresSql.terminateSessions(step.login)];
      case 'drop':
        if (this.offboarding === 'lock') return [postgresSql.setLogin(step.login, false)];
        return [
          postgresSql.joinRole(step.login),
          postgresSql.setLogin(step.login, false),
          postgresSql.terminateSessions(step.login),
          { text: inEveryDatabase(postgresSql.reassignOwned(step.login, this.graveyardRole).text), values: [] },
          { text: inEveryDatabase(postgresSql.dropOwned(step.login).text), values: [] },
          postgresSql.dropRole(step.login),
        ];
    }
  }

  apply(step: Step): Promise<StepResult> {
    return runStep(step, classifyPostgresError, async (sent) => {
      const send = async (statement: SqlStatement, db: PgQueryable = this.#db) => {
        sent.push(renderStatement(statement));
        await this.#send(db, statement);
      };
      switch (step.op) {
        case 'ensureRole': {
          // A failed query costs a connection (the pool drops a client after an error), so look
          // before creating: most roles exist after the first user that needs them.
          if (this.#knownRoles.has(step.role) || (await readExistingRoles(this.#db, [step.role])).length > 0) {
            this.#knownRoles.add(step.role);
            return { outcome: 'applied', message: 'role already existed' };
          }
          const created = await this.#createIgnoringDuplicate(send, postgresSql.createGroupRole(step.role), async () => ({ outcome: 'applied', message: 'role already existed' }));
          this.#knownRoles.add(step.role);
          return created;
        }
        case 'createLogin':
          return this.#createIgnoringDuplicate(send, postgresSql.createLogin(step.login, this.markerRole), async () => {
            const account = await this.readAccount(step.login);
            if (!account.managed) throw this.#unmanaged(step.login);
            return { outcome: 'applied', message: 'login already existed' };
          });
        case 'grant':
          this.#refuseInternalRole(step.role);
          await this.#requireManaged(step.login);
          try {
            await send(postgresSql.grant(step.role, step.login));
          } catch (error) {
            // 42704: the role was dropped behind Rolecall's back; the next ensureRole must look again.
            if (pgCode(error) === '42704') this.#knownRoles.delete(step.role);
            throw error;
          }
          return { outcome: 'applied' };
        case 'revoke': {
          this.#refuseInternalRole(step.role);
          const account = await this.#requireManaged(step.login);
          if (!account.roles.includes(step.role)) return { outcome: 'skipped', message: `${step.login} is not a member of ${step.role}` };
          await send(postgresSql.revoke(step.role, step.login));
          return { outcome: 'applied' };
        }
        case 'lock':
        case 'unlock':
          await this.#requireManaged(step.login);
          await send(postgresSql.setLogin(step.login, step.op === 'unlock'));
          return { outcome: 'applied' };
        case 'endSessions':
          return this.#endSessions(step.login, send);
        case 'drop':
          return this.#drop(step.login, send, sent);
      }
    });
  }

  async #createIgnoringDuplicate(
    send: (statement: SqlStatement) => Promise<void>,
    statement: SqlStatement,
    onDuplicate: () => Promise<StepReport>,
  ): Promise<StepReport> {
    try {
      await send(statement);
      return { outcome: 'applied' };
    } catch (error) {
      // Duplicate CREATE ROLE -> 42710 (targets.md [seen]); nothing changed, the transaction rolled back.
      // Two CREATE ROLE of one name racing in parallel jobs: the loser fails on the unique index of
      // pg_authid instead (23505, "pg_authid_rolname_index"), the same duplicate by another name.
      const code = pgCode(error);
      if (code === '42710' || code === '23505') return onDuplicate();
      throw error;
    }
  }

  async #endSessions(login: string, send: (statement: SqlStatement) => Promise<void>): Promise<StepReport> {
    const account = await this.readAccount(login);
    if (!account.exists) return { outcome: 'skipped', message: `${login} does not exist` };
    if (!account.managed) throw this.#unmanaged(login);
    await this.#terminate(login, send);
    return { outcome: 'applied' };
  }

  async #terminate(login: string, send: (statement: SqlStatement) => Promise<void>): Promise<void> {
    await send(postgresSql.terminateSessions(login));
    const left = await pollUntilGone(() => countSessions(this.#db, login), SESSION_DEADLINE_MS);
    if (left > 0) throw new RolecallError('retry', `${left} session(s) of ${login} still open after ${SESSION_DEADLINE_MS} ms`);
  }

  /**
   * Reassigns and drops what the login owns in every database, then drops it. The provisioner
   * joins the role first (a CREATEROLE provisioner needs membership for REASSIGN/DROP OWNED); the
   * membership disappears with the role. When the drop is blocked (2BP01: grants made by others,
   * objects in databases it cannot reach; 42501) the login is locked instead and the step is
   * reported 'skipped' with the reason (targets.md). The login is locked and its sessions ended
   * first: PostgreSQL drops a role whose sessions are open and keeps them running, nameless in
   * pg_stat_activity, where no later endSessions could find them (and their locks would hold
   * DROP OWNED back).
   */
  async #drop(login: string, send: (statement: SqlStatement, db?: PgQueryable) => Promise<void>, sent: string[]): Promise<StepReport> {
    const account = await this.readAccount(login);
    if (!account.exists) return { outcome: 'skipped', message: `${login} does not exist` };
    if (!account.managed) throw this.#unmanaged(login);
    if (this.offboarding === 'lock') {
      await send(postgresSql.setLogin(login, false));
      return { outcome: 'skipped', message: `offboarding is 'lock' on ${this.name}: ${login} locked, not dropped` };
    }
    await send(postgresSql.joinRole(login));
    await send(postgresSql.setLogin(login, false));
    await this.#terminate(login, send);
    try {
      for (const database of await readConnectableDatabases(this.#db)) {
        await this.#inDatabase(database, async (client) => {
          for (const statement of [postgresSql.reassignOwned(login, this.graveyardRole), postgresSql.dropOwned(login)]) {
            sent.push(inDatabase(database, statement.text));
            await client.query(statement.text, statement.values);
          }
        });
      }
      await send(postgresSql.dropRole(login));
      return { outcome: 'applied' };
    } catch (error) {
      const code = pgCode(error);
      if (code !== '2BP01' && code !== '42501') throw error;
      const reason = error instanceof Error ? error.message : String(error);
      await send(postgresSql.leaveRole(login));
      await send(postgresSql.setLogin(login, false));
      return { outcome: 'skipped', message: `drop of ${login} blocked (${code}: ${reason}); locked instead` };
    }
  }

  /** Runs `work` in one transaction on a connection to `database`; a database dropped meanwhile is skipped. */
  async #inDatabase(database: string, work: (client: pg.Client) => Promise<void>): Promise<void> {
    const url = new URL(this.#url);
    url.pathname = `/${encodeURIComponent(database)}`;
    const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 10_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('BEGIN');
      await work(client);
      await client.query('COMMIT');
    } catch (error) {
      if (!(await databaseExists(this.#db, database))) return;
      throw error;
    } finally {
      await client.end().catch(() => {});
    }
  }

  async #requireManaged(login: string): Promise<ActualAccount> {
    const account = await this.readAccount(login);
    if (!account.exists) throw new RolecallError('conflict', `login ${login} does not exist on ${this.name}`);
    if (!account.managed) throw this.#unmanaged(login);
    return account;
  }

  #unmanaged(login: string): RolecallError {
    return new RolecallError('conflict', `${login} exists on ${this.name} but is not a member of ${this.markerRole}: not managed by Rolecall, left untouched`);
  }

  /** The marker and graveyard memberships are Rolecall's bookkeeping, never a mapped role. */
  #refuseInternalRole(role: string): void {
    if (role === this.markerRole || role === this.graveyardRole) {
      throw new RolecallError('reject', `${role} is Rolecall's own role on ${this.name}, not a mappable role`);
    }
  }

  async missingPrivileges(): Promise<string[]> {
    const privileges = await readProvisionerPrivileges(this.#db);
    if (privileges.superuser) return [];
    const missing: string[] = [];
    if (!privileges.createrole) missing.push('CREATEROLE');
    if (!privileges.signal_backend) missing.push('pg_signal_backend');
    return missing;
  }

  async #send(db: PgQueryable, statement: SqlStatement): Promise<void> {
    await db.query(statement.text, statement.values);
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
