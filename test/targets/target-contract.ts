/**
 * One contract every database target passes against a real server (Hono's common router suite,
 * Kysely's per-dialect test runs). A case that cannot run on a kind must be skipped with a
 * written reason, never silently dropped.
 *
 * The suite provisions through a least-privileged account, never a superuser: the harness
 * creates it with admin rights and hands over a Target connected as that account.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { ActualAccount, Step, Target } from '../../src/provisioning/target.ts';

export interface Session {
  /** True while the connection still answers a query. */
  alive(): Promise<boolean>;
  close(): Promise<void>;
}

export interface ContractHarness {
  /** Connected as the least-privileged provisioner; `init()` not yet called. */
  target: Target;
  /** Opens a NEW connection as `login`; rejects when the server refuses the login. */
  connectAs(login: string): Promise<Session>;
  /** Drops everything the run created (roles, users, tables), also after failures. */
  cleanup(): Promise<void>;
  /** Unique per run; every name the suite creates contains it. */
  token: string;
  /**
   * Test-only hook run with admin rights after a login is created and before connecting as it,
   * outside the target: MariaDB sets a password there (Rolecall never sets passwords; production
   * logins authenticate through the engine's own means). PostgreSQL runs with trust auth.
   */
  prepareLogin?(login: string): Promise<void>;
  /** Every role and account name on the server that contains `token` (read with admin rights). */
  namesWithToken(): Promise<string[]>;
  /** Names the target creates for its own bookkeeping for `login` (per-user roles), besides the login. */
  bookkeepingNames(login: string): string[];
  /** Creates, with admin rights, an ordinary account Rolecall does not manage. */
  createUnmanagedAccount(login: string): Promise<void>;
  /** A table the injection payloads try to drop; `sentinelExists()` tells whether it survived. */
  sentinelTable: string;
  sentinelExists(): Promise<boolean>;
  /** A second target whose provisioner lacks exactly one privilege, named by `lacking`. */
  limitedTarget(): Promise<{ target: Target; lacking: string }>;
}

export function runTargetContract(kind: string, setup: () => Promise<ContractHarness>, need: (t: TestContext) => Promise<boolean>): void {
  test(`${kind} target contract`, { concurrency: false }, async (t) => {
    if (!(await need(t))) return;
    const h = await setup();
    try {
      await contractCases(t, h);
    } finally {
      await h.cleanup();
    }
  });
}

async function contractCases(t: TestContext, h: ContractHarness): Promise<void> {
  const { target, token } = h;
  const name = (suffix: string) => target.loginName(`${token}_${suffix}`);
  const role = (suffix: string) => `${token}_r_${suffix}`;

  const mustApply = async (step: Step, outcome: 'applied' | 'skipped' = 'applied') => {
    const result = await target.apply(step);
    assert.equal(result.outcome, outcome, `${step.op}: ${result.message ?? ''} ${result.statements.join('; ')}`);
    return result;
  };
  /** Creates a managed login holding `roles`, ready to log in as. */
  const provision = async (login: string, roles: string[]) => {
    for (const r of roles) await mustApply({ op: 'ensureRole', role: r });
    await mustApply({ op: 'createLogin', login });
    for (const r of roles) await mustApply({ op: 'grant', login, role: r });
    await h.prepareLogin?.(login);
  };

  await t.test('init is idempotent', async () => {
    await target.init();
    await target.init();
  });

  await t.test('create login with roles: readAccount shows exactly them', async () => {
    const login = name('alice');
    await provision(login, [role('writer'), role('reader')]);
    // grantedVia is a per-kind detail (where grants sit, for exact dry-run statements); compare the rest.
    const { grantedVia, ...account } = await target.readAccount(login);
    assert.deepEqual(account, { login, exists: true, managed: true, canLogin: true, roles: [role('reader'), role('writer')], sessions: 0 });
    if (grantedVia) assert.deepEqual([...new Set([...grantedVia.direct, ...grantedVia.perUserRole])].sort(), account.roles);
    assert.deepEqual(await target.existingRoles([role('reader'), role('writer'), role('missing')]), [role('reader'), role('writer')]);
  });

  await t.test('repeated create and ensureRole count as applied', async () => {
    const login = name('alice');
    await mustApply({ op: 'createLogin', login });
    await mustApply({ op: 'ensureRole', role: role('reader') });
    assert.deepEqual((await target.readAccount(login)).roles, [role('reader'), role('writer')]);
  });

  await t.test('grant and revoke; revoking a role not granted is skipped', async () => {
    const login = name('alice');
    await mustApply({ op: 'revoke', login, role: role('writer') });
    assert.deepEqual((await target.readAccount(login)).roles, [role('reader')]);
    await mustApply({ op: 'revoke', login, role: role('writer') }, 'skipped');
    await mustApply({ op: 'grant', login, role: role('writer') });
    await mustApply({ op: 'grant', login, role: role('writer') });
    assert.deepEqual((await target.readAccount(login)).roles, [role('reader'), role('writer')]);
  });

  await t.test('granting a role that does not exist fails with conflict (re-plan)', async () => {
    const result = await target.apply({ op: 'grant', login: name('alice'), role: role('nowhere') });
    assert.equal(result.outcome, 'failed');
    assert.equal(result.disposition, 'conflict', result.message);
  });

  await t.test('statements(step) are exactly what apply sends', async () => {
    const login = name('bob');
    const steps: Step[] = [
      { op: 'ensureRole', role: role('stmt') },
      { op: 'createLogin', login },
      { op: 'grant', login, role: role('stmt') },
      { op: 'lock', login },
      { op: 'unlock', login },
      { op: 'revoke', login, role: role('stmt') },
      { op: 'endSessions', login },
    ];
    for (const step of steps) {
      const planned = target.statements(step);
      const result = await mustApply(step);
      assert.ok(planned.length > 0, step.op);
      if (step.op === 'endSessions' && target.kind !== 'postgres') {
        // Session ids are only known when the step runs (KILL CONNECTION <id>); with none open only the lookup shows.
        assert.deepEqual(result.statements, [], step.op);
      } else {
        assert.deepEqual(result.statements, planned, step.op);
      }
    }
  });

  await t.test('lock blocks a new login; unlock lets it in again', async () => {
    const login = name('alice');
    const before = await h.connectAs(login);
    await before.close();
    await mustApply({ op: 'lock', login });
    assert.equal((await target.readAccount(login)).canLogin, false);
    await assert.rejects(h.connectAs(login));
    await mustApply({ op: 'unlock', login });
    assert.equal((await target.readAccount(login)).canLogin, true);
    const after = await h.connectAs(login);
    assert.equal(await after.alive(), true);
    await after.close();
  });

  await t.test('endSessions ends a connection the user holds open', async () => {
    const login = name('alice');
    const session = await h.connectAs(login);
    try {
      assert.equal(await session.alive(), true);
      assert.equal((await target.readAccount(login)).sessions, 1);
      const result = await mustApply({ op: 'endSessions', login });
      assert.ok(result.statements.length > 0);
      assert.equal(await session.alive(), false);
      assert.equal((await target.readAccount(login)).sessions, 0);
    } finally {
      await session.close();
    }
  });

  await t.test('offboarding: lock -> end sessions -> revoke -> drop -> end sessions', async () => {
    const login = name('carol');
    await provision(login, [role('reader')]);
    const session = await h.connectAs(login);
    try {
      await mustApply({ op: 'lock', login });
      await mustApply({ op: 'endSessions', login });
      assert.equal(await session.alive(), false);
      await mustApply({ op: 'revoke', login, role: role('reader') });
      const dropped = await mustApply({ op: 'drop', login });
      assert.deepEqual(dropped.statements.filter((s) => !s.includes('/* in database ')), target.statements({ op: 'drop', login }).filter((s) => !s.includes('/* in every database */')));
      await mustApply({ op: 'endSessions', login }, 'skipped');
      assert.deepEqual(await target.readAccount(login), { login, exists: false, managed: false, canLogin: false, roles: [], sessions: 0 });
      await mustApply({ op: 'drop', login }, 'skipped');
      assert.ok(!(await h.namesWithToken()).includes(login));
      for (const extra of h.bookkeepingNames(login)) assert.ok(!(await h.namesWithToken()).includes(extra), extra);
    } finally {
      await session.close();
    }
  });

  await t.test('a session open when the login is dropped does not outlive the drop and the endSessions after it', async () => {
    // Neither engine ends a dropped login's sessions: PostgreSQL keeps them running without a name
    // (the drop step ends them first), MariaDB keeps them under the name (endSessions finds them).
    const login = name('dave');
    await provision(login, [role('reader')]);
    const session = await h.connectAs(login);
    try {
      assert.equal(await session.alive(), true);
      await mustApply({ op: 'drop', login });
      const ended = await target.apply({ op: 'endSessions', login });
      assert.notEqual(ended.outcome, 'failed', ended.message);
      assert.equal(await session.alive(), false);
      assert.deepEqual(await target.readAccount(login), { login, exists: false, managed: false, canLogin: false, roles: [], sessions: 0 });
    } finally {
      await session.close();
    }
  });

  await t.test('names with quotes, semicolons, @, spaces, Unicode and 200 characters create exactly themselves', async () => {
    const payloads = [
      `q'uote`,
      `d"ouble`,
      'b`acktick',
      'semi;colon',
      'at@sign',
      'with space',
      'Zoë.Ångström@例え.jp',
      'emoji 🙂 name',
      `x'; DROP TABLE ${h.sentinelTable}; --`,
      `x"; DROP TABLE ${h.sentinelTable}; --`,
      `x\`; DROP TABLE ${h.sentinelTable}; --`,
      `e'@'%'; CREATE USER ${token}_evil; --`,
      `back\\slash'`,
      'l'.repeat(200),
    ];
    const before = new Set(await h.namesWithToken());
    const expected = new Set<string>();
    const injectedRole = `${token}_r'"\`;@ x`;
    await mustApply({ op: 'ensureRole', role: injectedRole });
    expected.add(injectedRole);
    for (const payload of payloads) {
      const login = target.loginName(`${token}_${payload}`);
      assert.equal(login, target.loginName(`${token}_${payload}`), 'deterministic');
      await mustApply({ op: 'createLogin', login });
      await mustApply({ op: 'grant', login, role: injectedRole });
      const account = await target.readAccount(login);
      assert.equal(account.login, login);
      assert.equal(account.managed, true, payload);
      assert.deepEqual(account.roles, [injectedRole], payload);
      expected.add(login);
      for (const extra of h.bookkeepingNames(login)) expected.add(extra);
    }
    const created = (await h.namesWithToken()).filter((n) => !before.has(n));
    assert.deepEqual(created.sort(), [...expected].sort());
    assert.equal(await h.sentinelExists(), true, 'sentinel table survived');
  });

  await t.test('long names map deterministically within the limit and round-trip through readAccount', async () => {
    const raw = `${token}_${'Å'.repeat(150)}`;
    const login = target.loginName(raw);
    assert.equal(target.loginName(raw), login);
    assert.notEqual(login, raw);
    assert.notEqual(target.loginName(`${raw}x`), login, 'different long names map apart');
    assert.ok(!login.includes('\uFFFD'), 'no cut multibyte character');
    assert.equal(target.loginName(`${token}_short`), `${token}_short`);
    await mustApply({ op: 'createLogin', login });
    const account = await target.readAccount(login);
    assert.equal(account.login, login);
    assert.equal(account.managed, true);
  });

  await t.test('a name over the limit that was not mapped is rejected without creating anything', async () => {
    const before = await h.namesWithToken();
    const result = await target.apply({ op: 'createLogin', login: `${token}_${'z'.repeat(200)}` });
    assert.equal(result.outcome, 'failed');
    assert.equal(result.disposition, 'reject', result.message);
    assert.deepEqual((await h.namesWithToken()).sort(), before.sort());
  });

  await t.test('an unmanaged account with the same name is reported and never altered', async () => {
    const login = name('preexisting');
    await h.createUnmanagedAccount(login);
    const before = await target.readAccount(login);
    assert.equal(before.exists, true);
    assert.equal(before.managed, false);
    const names = (await h.namesWithToken()).sort();
    const steps: Step[] = [
      { op: 'createLogin', login },
      { op: 'grant', login, role: role('reader') },
      { op: 'revoke', login, role: role('reader') },
      { op: 'lock', login },
      { op: 'unlock', login },
      { op: 'endSessions', login },
      { op: 'drop', login },
    ];
    for (const step of steps) {
      const result = await target.apply(step);
      assert.equal(result.outcome, 'failed', step.op);
      assert.equal(result.disposition, 'conflict', `${step.op}: ${result.message}`);
    }
    assert.deepEqual(await target.readAccount(login), before);
    assert.deepEqual((await h.namesWithToken()).sort(), names);
    assert.ok(!(await target.listManaged()).some((a: ActualAccount) => a.login === login));
  });

  await t.test('readAccounts answers for many logins as readAccount does for each', async () => {
    const logins = [name('alice'), name('preexisting'), name('nobody'), name('alice')];
    const many = await target.readAccounts(logins);
    assert.deepEqual([...many.keys()].sort(), [name('alice'), name('nobody'), name('preexisting')].sort());
    for (const login of new Set(logins)) assert.deepEqual(many.get(login), await target.readAccount(login), login);
  });

  await t.test('applyPlans: several accounts at once, each step reported, the state exactly as planned', async () => {
    const [newcomer, regular, leaver] = [name('batch_new'), name('batch_regular'), name('batch_leaver')];
    await provision(regular, [role('reader')]);
    await provision(leaver, [role('reader'), role('writer')]);
    const actual = await target.readAccounts([newcomer, regular, leaver]);
    const plans = [
      { login: newcomer, steps: [{ op: 'ensureRole', role: role('batch') }, { op: 'createLogin', login: newcomer }, { op: 'grant', login: newcomer, role: role('batch') }, { op: 'grant', login: newcomer, role: role('reader') }] },
      { login: regular, steps: [{ op: 'ensureRole', role: role('batch') }, { op: 'revoke', login: regular, role: role('reader') }, { op: 'grant', login: regular, role: role('batch') }] },
      { login: leaver, steps: [{ op: 'lock', login: leaver }, { op: 'revoke', login: leaver, role: role('reader') }, { op: 'revoke', login: leaver, role: role('writer') }] },
    ] satisfies { login: string; steps: Step[] }[];
    const results = await target.applyPlans(plans.map((p) => ({ ...p, actual: actual.get(p.login)! })));
    assert.deepEqual(results.map((r) => r.map((x) => [x.step.op, x.outcome])), plans.map((p) => p.steps.map((step) => [step.op, 'applied'])));
    assert.ok(results.flat().filter((r) => r.step.op !== 'ensureRole').every((r) => r.statements.length > 0), 'every change names its statements');
    const after = await target.readAccounts([newcomer, regular, leaver]);
    assert.deepEqual([after.get(newcomer)?.managed, after.get(newcomer)?.canLogin, after.get(newcomer)?.roles], [true, true, [role('batch'), role('reader')]]);
    assert.deepEqual(after.get(regular)?.roles, [role('batch')]);
    assert.deepEqual([after.get(leaver)?.canLogin, after.get(leaver)?.roles], [false, []]);
    const session = await h.connectAs(newcomer).catch(async () => {
      await h.prepareLogin?.(newcomer);
      return h.connectAs(newcomer);
    });
    assert.equal(await session.alive(), true, 'the new login can log in');
    await session.close();
  });

  await t.test('applyPlans: a plan the account changed under fails alone, step by step; the others apply', async () => {
    // `earlier` comes before the failing plan, so an engine without DDL transactions may have
    // applied it already when the failure stops the batch: applying it again must be harmless.
    const [earlier, taken, fine] = [name('batch_earlier'), name('batch_taken'), name('batch_fine')];
    const planned = await target.readAccounts([earlier, taken, fine]);
    // Between reading and applying, someone else creates an account of that name.
    await h.createUnmanagedAccount(taken);
    const before = await target.readAccount(taken);
    const create = (login: string): Step[] => [{ op: 'createLogin', login }, { op: 'grant', login, role: role('reader') }];
    const results = await target.applyPlans([earlier, taken, fine].map((login) => ({ login, actual: planned.get(login)!, steps: create(login) })));
    assert.equal(results[1]![0]!.outcome, 'failed');
    assert.equal(results[1]![0]!.disposition, 'conflict', results[1]![0]!.message);
    assert.deepEqual([results[1]![1]!.outcome, results[1]![1]!.message], ['skipped', 'not run: step 1 failed']);
    assert.deepEqual([results[0]!.map((r) => r.outcome), results[2]!.map((r) => r.outcome)], [['applied', 'applied'], ['applied', 'applied']]);
    assert.deepEqual(await target.readAccount(taken), before, 'the unmanaged account is untouched');
    for (const login of [earlier, fine]) {
      const account = await target.readAccount(login);
      assert.deepEqual([account.managed, account.canLogin, account.roles], [true, true, [role('reader')]], login);
    }
  });

  await t.test('applyPlans: a plan that ends sessions ends them', async () => {
    const login = name('batch_fine');
    await h.prepareLogin?.(login);
    const session = await h.connectAs(login);
    try {
      const actual = (await target.readAccounts([login])).get(login)!;
      const results = await target.applyPlans([{ login, actual, steps: [{ op: 'lock', login }, { op: 'endSessions', login }, { op: 'revoke', login, role: role('reader') }] }]);
      assert.deepEqual(results[0]!.map((r) => r.outcome), ['applied', 'applied', 'applied']);
      assert.equal(await session.alive(), false);
    } finally {
      await session.close();
    }
  });

  await t.test('listManaged lists only managed accounts', async () => {
    const managed = await target.listManaged();
    const logins = managed.map((a) => a.login);
    assert.ok(logins.includes(name('alice')));
    assert.ok(!logins.includes(name('preexisting')));
    assert.ok(managed.every((a) => a.managed && a.exists));
    assert.deepEqual(logins, [...logins].sort());
  });

  await t.test('missingPrivileges: empty when complete, names the privilege when absent', async () => {
    assert.deepEqual(await target.missingPrivileges(), []);
    const limited = await h.limitedTarget();
    assert.ok((await limited.target.missingPrivileges()).includes(limited.lacking), limited.lacking);
  });
}
