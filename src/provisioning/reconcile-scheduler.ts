import type { ReconcileReport, Reconciler } from './reconciler.ts';

export interface ReconcileSchedulerOptions {
  /** Seconds between full reconciles; 0 turns the scheduler off. */
  intervalSeconds: number;
  onReport?: (report: ReconcileReport) => void;
  onError?: (error: unknown) => void;
}

/**
 * Runs a full reconcile every `intervalSeconds` (drift repair: changes made on a target behind
 * Rolecall's back, jobs lost to a wiped queue). Runs never overlap: the next interval starts
 * when the previous run ends.
 */
export class ReconcileScheduler {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  private stopped = true;

  constructor(private readonly reconciler: Reconciler, private readonly options: ReconcileSchedulerOptions) {}

  start(): void {
    if (this.options.intervalSeconds <= 0 || !this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stops scheduling and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.current;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.current = this.runOnce().finally(() => {
        this.current = undefined;
        if (!this.stopped) this.schedule();
      });
    }, this.options.intervalSeconds * 1000);
    this.timer.unref();
  }

  private async runOnce(): Promise<void> {
    try {
      const report = await this.reconciler.reconcile();
      this.options.onReport?.(report);
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}
