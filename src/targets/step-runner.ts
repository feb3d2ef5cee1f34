import { performance } from 'node:perf_hooks';
import { RolecallError, type Disposition } from '../domain/errors.ts';
import type { Step, StepResult } from '../provisioning/target.ts';

/** What a step body decides; statements are collected by the runner as they are sent. */
export interface StepReport {
  outcome: 'applied' | 'skipped';
  message?: string;
}

/**
 * Runs one step body and turns every outcome, including thrown errors, into a StepResult
 * (Target.apply never throws). A RolecallError keeps its disposition; any other error is
 * classified by the target's engine-specific rules.
 */
export async function runStep(
  step: Step,
  classify: (error: unknown) => Disposition,
  body: (sent: string[]) => Promise<StepReport>,
): Promise<StepResult> {
  const started = performance.now();
  const sent: string[] = [];
  const durationMs = () => Math.round((performance.now() - started) * 1000) / 1000;
  try {
    const report = await body(sent);
    return { step, outcome: report.outcome, statements: sent, durationMs: durationMs(), ...(report.message === undefined ? {} : { message: report.message }) };
  } catch (error) {
    const disposition = error instanceof RolecallError ? error.disposition : classify(error);
    const message = error instanceof Error ? error.message : String(error);
    return { step, outcome: 'failed', statements: sent, durationMs: durationMs(), disposition, message };
  }
}

/** Polls `remaining` until it reports zero or `deadlineMs` passes; returns what is left. */
export async function pollUntilGone(remaining: () => Promise<number>, deadlineMs: number, intervalMs = 10): Promise<number> {
  const until = performance.now() + deadlineMs;
  for (;;) {
    const left = await remaining();
    if (left === 0 || performance.now() >= until) return left;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
