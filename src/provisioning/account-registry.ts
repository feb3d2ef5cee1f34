import type { Kysely } from 'kysely';

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

  async get(target: string, tenantId: string, userId: string): Promise<ManagedAccount | undefined> {
    const row = await this.db
      .selectFrom('accounts')
      .select(['target', 'tenant_id', 'user_id', 'login'])
      .where('target', '=', target)
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row ? toAccount(row) : undefined;
  }

  /** The user a login belongs to on a target, if Rolecall recorded one. */
  async byLogin(target: string, login: string): Promise<ManagedAccount | undefined> {
    const row = await this.db
      .selectFrom('accounts')
      .select(['target', 'tenant_id', 'user_id', 'login'])
      .where('target', '=', target)
      .where('login', '=', login)
      .executeTakeFirst();
    return row ? toAccount(row) : undefined;
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
   * Records the user's login before anything is created on the target, so a crash right after
   * creation still leaves the login known. Returns the account holding the login when it is
   * recorded for ANOTHER user (e.g. a re-created user with the same userName while the old
   * one's login is kept locked): the new user must not inherit it.
   */
  async claim(account: ManagedAccount): Promise<ManagedAccount | undefined> {
    const holder = await this.byLogin(account.target, account.login);
    if (holder && (holder.tenantId !== account.tenantId || holder.userId !== account.userId)) return holder;
    if (holder) return undefined;
    const now = this.clock().toISOString();
    await this.db
      .insertInto('accounts')
      .values({ target: account.target, tenant_id: account.tenantId, user_id: account.userId, login: account.login, created_at: now, updated_at: now })
      .onConflict((oc) => oc.columns(['target', 'tenant_id', 'user_id']).doUpdateSet({ login: account.login, updated_at: now }))
      .execute();
    return undefined;
  }

  /** Forgets a login after it was dropped from the target. */
  async forget(target: string, tenantId: string, userId: string): Promise<void> {
    await this.db.deleteFrom('accounts').where('target', '=', target).where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
  }
}

function toAccount(row: Record<string, any>): ManagedAccount {
  return { target: row.target, tenantId: row.tenant_id, userId: row.user_id, login: row.login };
}
