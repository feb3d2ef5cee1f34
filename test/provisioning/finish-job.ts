import type { Job } from '../../src/provisioning/job.ts';
import type { AttemptReport, FinishState, JobQueue } from '../../src/provisioning/job-queue.ts';

/** Finishes one job, as a worker finishes a batch of one. */
export async function finishJob(queue: JobQueue, job: Job, workerId: string, report: AttemptReport): Promise<FinishState> {
  return (await queue.finishMany([{ job, report }], workerId))[0]!;
}
