import type { PlannedAccount, Step, StepResult } from '../provisioning/target.ts';

/**
 * The plans an applyPlans may send in a batch: those with statements planned for every step
 * (`texts[i]`, undefined for a plan that must run step by step) whose roles were all ensured.
 */
export function batchablePlans(plans: PlannedAccount[], texts: (string[][] | undefined)[], roles: Map<string, StepResult>): number[] {
  return plans.flatMap((plan, i) => (texts[i] && plan.steps.every((step) => step.op !== 'ensureRole' || roles.get(step.role)?.outcome === 'applied') ? [i] : []));
}

/** A batched plan's results: its ensureRole steps as ensured, every other step applied with its statements and their share of the batch's time. */
export function batchedResults(steps: Step[], texts: string[][], roles: Map<string, StepResult>, msPerStatement: number): StepResult[] {
  return steps.map((step, j): StepResult => {
    if (step.op === 'ensureRole') return { ...roles.get(step.role)!, step };
    const sent = texts[j]!;
    return { step, outcome: 'applied', statements: sent, durationMs: Math.round(msPerStatement * sent.length * 1000) / 1000 };
  });
}
