import type { ActualAccount, PlannedAccount, Step, StepResult, Target } from '../provisioning/target.ts';

/**
 * Runs a target's init() (marker and graveyard roles) before its first use, and again after a
 * failure: a database that is down when Rolecall starts must not stop the server; its jobs fail
 * with a retryable error and succeed once it is back.
 */
export class InitOnUseTarget implements Target {
  #ready: Promise<void> | undefined;

  constructor(readonly inner: Target) {}

  get name() { return this.inner.name; }
  get kind() { return this.inner.kind; }
  get capabilities() { return this.inner.capabilities; }

  init(): Promise<void> {
    this.#ready ??= this.inner.init().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  loginName(raw: string): string { return this.inner.loginName(raw); }
  statements(step: Step, actual?: ActualAccount): string[] { return this.inner.statements(step, actual); }

  async readAccount(login: string) { await this.init(); return this.inner.readAccount(login); }
  async readAccounts(logins: string[]) { await this.init(); return this.inner.readAccounts(logins); }
  async listManaged() { await this.init(); return this.inner.listManaged(); }
  async existingRoles(roles: string[]) { await this.init(); return this.inner.existingRoles(roles); }
  async missingPrivileges() { return this.inner.missingPrivileges(); }

  async apply(step: Step): Promise<StepResult> {
    try {
      await this.init();
    } catch (error) {
      return this.notReady(step, error);
    }
    return this.inner.apply(step);
  }

  async applyPlans(plans: PlannedAccount[]): Promise<StepResult[][]> {
    try {
      await this.init();
    } catch (error) {
      return plans.map((plan) => plan.steps.map((step) => this.notReady(step, error)));
    }
    return this.inner.applyPlans(plans);
  }

  close(): Promise<void> { return this.inner.close(); }

  private notReady(step: Step, error: unknown): StepResult {
    return { step, outcome: 'failed', statements: [], durationMs: 0, disposition: 'retry', message: `target not ready: ${(error as Error).message}` };
  }
}
