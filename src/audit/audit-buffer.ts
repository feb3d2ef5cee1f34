import type { Kysely } from 'kysely';
import type { AuditEventInput, AuditLog } from './audit-log.ts';

export interface AuditBufferOptions {
  /** Longest an event waits before it is written. Default 100 ms: each flush is a write transaction, which on the embedded store holds its one connection. */
  maxDelayMs?: number;
  /** Events written per transaction at most. Default 500. */
  maxBatch?: number;
  onError: (error: unknown, lost: number) => void;
}

/**
 * Group commit for events that record no change of their own (SCIM request log lines, including
 * reads): many requests share one transaction and one head lock instead of paying one each.
 * Changes are NOT buffered: their events commit inside the change's own transaction (AuditSink)
 * as pending events, which every flush chains first (see AuditLog.record); sealSoon() asks for
 * a flush when only those wait. What a crash can lose is at most `maxDelayMs` of these lines,
 * never a change's record (a pending event left by a crash is chained by the next seal).
 */
export class AuditBuffer {
  private pending: AuditEventInput[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly maxDelayMs: number;
  private readonly maxBatch: number;

  constructor(private readonly log: AuditLog, private readonly db: Kysely<any>, private readonly options: AuditBufferOptions) {
    this.maxDelayMs = options.maxDelayMs ?? 100;
    this.maxBatch = options.maxBatch ?? 500;
  }

  add(event: AuditEventInput): void {
    this.pending.push(event);
    if (this.pending.length >= this.maxBatch) void this.flush();
    else this.sealSoon();
  }

  /** Pending events were committed elsewhere: chain them within `maxDelayMs`. */
  sealSoon(): void {
    this.timer ??= setTimeout(() => void this.flush(), this.maxDelayMs);
  }

  /** Writes everything added so far; resolves when it is committed (or reported lost). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.pending;
    this.pending = [];
    // Batches are chained so the chain order is the order events were added.
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) {
        await this.log.seal().catch((error: unknown) => this.options.onError(error, 0));
        return;
      }
      for (let i = 0; i < batch.length; i += this.maxBatch) {
        const part = batch.slice(i, i + this.maxBatch);
        try {
          await this.log.appendMany(this.db, part);
        } catch (error) {
          this.options.onError(error, part.length);
        }
      }
    });
    return this.flushing;
  }
}
