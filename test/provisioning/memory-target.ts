import { executePlan } from '../../src/provisioning/execute-plan.ts';
import type { ActualAccount, PlannedAccount, Step, StepResult, Target } from '../../src/provisioning/target.ts';

interface MemoryAccount {
  managed: boolean;
  canLogin: boolean;
  roles: Set<string>;
  sessions: number;
}

/**
 * A Target held in memory, for sequencing tests of the worker and reconciler (the real engines
 * are tested in test/targets/). It counts concurrent applies and can fail on demand.
 */
export class MemoryTarget implements Target {
  readonly kind = 'memory';
  readonly capabilities = { sessions: true, maxLoginBytes: 63 };
  readonly accounts = new Map<string, MemoryAccount>();
  readonly roles = new Set<string>();
  readonly applied: Step[] = [];
  /** Applies in flight now, and the most seen at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** Milliseconds each apply takes. */
  delayMs = 0;
  /** The next applies fail with these dispositions, in order. */
  failures: NonNullable<StepResult['disposition']>[] = [];

  constructor(readonly name: string) {}

  async init(): Promise<void> {}
  loginName(raw: string): string {
    return raw.length <= 63 ? raw : `${raw.slice(0, 50)}_${raw.length}`;
  }

  async readAccount(login: string): Promise<ActualAccount> {
    const a = this.accounts.get(login);
    if (!a) return { login, exists: false, managed: false, canLogin: false, roles: [], sessions: 0 };
    return { login, exists: true, managed: a.managed, canLogin: a.canLogin, roles: [...a.roles].sort(), sessions: a.sessions };
  }

  async readAccounts(logins: string[]): Promise<Map<string, ActualAccount>> {
    return new Map(await Promise.all(logins.map(async (login) => [login, await this.readAccount(login)] as const)));
  }

  /** Plain step-by-step application, as a target without a batch path has. */
  async applyPlans(plans: PlannedAccount[]): Promise<StepResult[][]> {
    const results: StepResult[][] = [];
    for (const plan of plans) results.push(await executePlan(this, plan.steps));
    return results;
  }

  async listManaged(): Promise<ActualAccount[]> {
    const logins = [...this.accounts].filter(([, a]) => a.managed).map(([login]) => login);
    return Promise.all(logins.sort().map((login) => this.readAccount(login)));
  }

  async existingRoles(roles: string[]): Promise<string[]> {
    return roles.filter((r) => this.roles.has(r));
  }

  statements(step: Step): string[] {
    return [`${step.op} ${'login' in step ? step.login : ''} ${'role' in step ? step.role : ''}`.trim()];
  }

  async apply(step: Step): Promise<StepResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      const failure = this.failures.shift();
      if (failure) return { step, outcome: 'failed', statements: this.statements(step), durationMs: this.delayMs, disposition: failure, message: `injected ${failure}` };
      this.mutate(step);
      this.applied.push(step);
      return { step, outcome: 'applied', statements: this.statements(step), durationMs: this.delayMs };
    } finally {
      this.inFlight--;
    }
  }

  async missingPrivileges(): Promise<string[]> {
    return [];
  }
  async close(): Promise<void> {}

  private mutate(step: Step): void {
    const account = 'login' in step ? this.accounts.get(step.login) : undefined;
    switch (step.op) {
      case 'ensureRole':
        this.roles.add(step.role);
        return;
      case 'createLogin':
        this.accounts.set(step.login, { managed: true, canLogin: true, roles: new Set(), sessions: 0 });
        return;
      case 'grant':
        account?.roles.add(step.role);
        return;
      case 'revoke':
        account?.roles.delete(step.role);
        return;
      case 'lock':
        if (account) account.canLogin = false;
        return;
      case 'unlock':
        if (account) account.canLogin = true;
        return;
      case 'endSessions':
        if (account) account.sessions = 0;
        return;
      case 'drop':
        this.accounts.delete(step.login);
        return;
    }
  }
}
