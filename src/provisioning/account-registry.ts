import type { Kysely } from 'kysely';
import { chunks } from '../domain/chunks.ts';

/** A login Rolecall manages on a target for one directory user. */
export interface ManagedAccount {
  target: string;
  tenantId: string;
  userId: string;
  login: string;
}

/**
 * The `accounts` table: which login Rolecall made for which user on which target. It keeps a
 * deleted user's login known (to lock or drop it) and pins a login once made, so a userName
 * change or a long name mapped to a short one keeps pointing at the same account.
 */
export class AccountRegistry {
  constructor(private readonly db: Kysely<any>, private readonly clock: () => Date = () => new Date()) {}

  /** The recorded logins of these users of one tenant; users without one are absent from the map. */
  async getMany(target: string, tenantId: string, userIds: string[]): Promise<Map<string, ManagedAccount>> {
    const found = new Map<string, ManagedAccount>();
    for (const part of chunks([...new Set(userIds)])) {
      const rows = await this.db
        .selectFrom('accounts')
        .select(['target', 'tenant_id', 'user_id', 'login'])
        .where('target', '=', target)
        .where('tenant_id', '=', tenantId)
        .where('user_id', 'in', part)
        .execute();
      for (const row of rows) found.set(row.user_id, toAccount(row));
    }
    return found;
  }

  /** The users these logins belong to on a target, where Rolecall recorded them. */
  async byLogins(target: string, logins: string[]): Promise<Map<string, ManagedAccount>> {
    const found = new Map<string, ManagedAccount>();
    for (const part of chunks([...new Set(logins)])) {
      const rows = await this.db
        .selectFrom('accounts')
        .select(['target', 'tenant_id', 'user_id', 'login'])
        .where('target', '=', target)
        .where('login', 'in', part)
        .execute();
      for (const row of rows) found.set(row.login, toAccount(row));
    }
    return found;
  }

  /** Every recorded account of a target, in login order. */
  async list(target: string): Promise<ManagedAccount[]> {
    const rows = await this.db
      .selectFrom('accounts')
      .select(['target', 'tenant_id', 'user_id', 'login'])
      .where('target', '=', target)
      .orderBy('login')
      .execute();
    return rows.map(toAccount);
  }

  /**
   * Records users' logins on one target before anything is created there, so a crash right
   * after creation still leaves each login known. Returns the account recorded for each of
   * these logins afterwards: when that is another user's (a re-created user with the same
   * userName while the old one's login is kept locked, two users whose names render to one
   * login, a process that recorded it meanwhile), the claimant must not take the login. Of two
   * claimants of one free login, the first listed gets it.
   */
  async claimMany(accounts: ManagedAccount[]): Promise<Map<string, ManagedAccount>> {
    const target = accounts[0]?.target;
    if (target === undefined) return new Map();
    if (accounts.some((a) => a.target !== target)) throw new RangeError('claimMany: accounts of one target only');
    const holders = await this.byLogins(target, accounts.map((a) => a.login));
    const fresh = new Map<string, ManagedAccount>();
    for (const account of accounts) if (!holders.has(account.login) && !fresh.has(account.login)) fresh.set(account.login, account);
    if (fresh.size === 0) return holders;
    const now = this.clock().toISOString();
    for (const part of chunks([...fresh.values()])) {
      // A row recorded meanwhile (either key) wins; the re-read below tells whose the login is.
      await this.db
        .insertInto('accounts')
        .values(part.map((a) => ({ target: a.target, tenant_id: a.tenantId, user_id: a.userId, login: a.login, created_at: now, updated_at: now })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    for (const [login, holder] of await this.byLogins(target, [...fresh.keys()])) holders.set(login, holder);
    return holders;
  }

  /** Forgets a login after it was dropped from the target. */
  async forget(target: string, tenantId: string, userId: string): Promise<void> {
    await this.db.deleteFrom('accounts').where('target', '=', target).where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
  }
}

function toAccount(row: Record<string, any>): ManagedAccount {
  return { target: row.target, tenantId: row.tenant_id, userId: row.user_id, login: row.login };
}
