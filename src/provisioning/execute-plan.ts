import { RolecallError } from '../domain/errors.ts';
import type { ActualAccount, Step, StepResult, Target } from './target.ts';

/**
 * Steps still attempted after an earlier step failed: a failed revoke or drop must not leave a
 * login open or a session alive. Everything else depends on what came before and is skipped.
 */
const SAFETY_OPS: ReadonlySet<Step['op']> = new Set(['lock', 'endSessions']);

/**
 * Applies a plan in order and returns exactly one result per step. Never throws: a plan is
 * data, and its outcome is recorded step by step. After the first failure, non-safety steps
 * come back 'skipped' with "not run: step N failed" (N counts from 1); the next reconcile
 * re-plans from the actual state, so nothing is lost by stopping.
 */
export async function executePlan(target: Target, steps: Step[]): Promise<StepResult[]> {
  const results: StepResult[] = [];
  let failedStep: number | undefined;
  for (const [index, step] of steps.entries()) {
    if (failedStep !== undefined && !SAFETY_OPS.has(step.op)) {
      results.push({ step, outcome: 'skipped', statements: [], durationMs: 0, message: `not run: step ${failedStep} failed` });
      continue;
    }
    const result = await applyStep(target, step);
    if (result.outcome === 'failed') failedStep ??= index + 1;
    results.push(result);
  }
  return results;
}

/** The statements the plan would send, in order, for dry-run output. */
export function planStatements(target: Target, steps: Step[], actual?: ActualAccount): string[] {
  return steps.flatMap((step) => target.statements(step, actual));
}

/** Target.apply must not throw; if one does anyway, the throw becomes that step's failure instead of aborting the plan. */
async function applyStep(target: Target, step: Step): Promise<StepResult> {
  const started = performance.now();
  try {
    return await target.apply(step);
  } catch (error) {
    return {
      step,
      outcome: 'failed',
      statements: [],
      durationMs: performance.now() - started,
      disposition: error instanceof RolecallError ? error.disposition : 'retry',
      message: error instanceof Error ? error.message : String(error),
    };
  }
}
