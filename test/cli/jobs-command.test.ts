import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadServerConfig } from '../../src/app/config.ts';
import { openRolecall } from '../../src/app/open-rolecall.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { JobQueue } from '../../src/provisioning/job-queue.ts';
import { finishJob } from '../provisioning/finish-job.ts';

const run = promisify(execFile);
const REPO = new URL('../..', import.meta.url).pathname;

/** `rolecall jobs list|retry` without a policy: dead-lettered jobs are listed, requeued and audited. */
test('jobs list --failed shows a dead-lettered job; jobs retry requeues it and records who did', { timeout: 60_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rolecall-jobs-'));
  try {
    const app = await openRolecall(loadServerConfig({ dataDir, logLevel: 'silent' }), { exclusive: false });
    let deadId: number;
    try {
      const queue = new JobQueue(app.database, { maxAttempts: 1 });
      await queue.enqueue([{ tenantId: 't1', userId: 'u1', target: 'pg' }]);
      const [job] = await queue.claim('test', { target: 'pg', limit: 1 });
      assert.ok(job);
      assert.equal(await finishJob(queue, job, 'test', { startedAt: new Date(), outcome: 'retry', error: 'target down', results: [] }), 'dead');
      deadId = job.id;
    } finally {
      await app.close();
    }
    const cli = (...args: string[]) => run(process.execPath, ['bin/rolecall.js', ...args, '--data-dir', dataDir], { cwd: REPO });

    const failed = (await cli('jobs', 'list', '--failed')).stdout.trim().split('\n').map((l) => l.split('\t'));
    assert.deepEqual(failed[0]?.slice(0, 3), ['ID', 'STATE', 'TARGET']);
    assert.deepEqual(failed.slice(1).map((r) => [r[0], r[1], r[2], r[7]]), [[String(deadId), 'dead', 'pg', 'target down (gave up after 1 attempts)']]);
    await assert.rejects(cli('jobs', 'list', '--state', 'bogus'), (e: { code?: number; stderr?: string }) => e.code === 2 && /state must be one of/.test(e.stderr ?? ''));

    assert.equal((await cli('jobs', 'retry', String(deadId))).stdout.trim(), `requeued job ${deadId}`);
    assert.equal((await cli('jobs', 'list', '--state', 'dead')).stdout.trim().split('\n').length, 1, 'no dead job is left');
    await assert.rejects(cli('jobs', 'retry', String(deadId)), /not dead-lettered/);
    assert.equal((await cli('jobs', 'retry', '--all')).stdout.trim(), 'requeued 0 job(s)');

    const check = await openRolecall(loadServerConfig({ dataDir, logLevel: 'silent' }), { exclusive: false });
    try {
      const events = await new AuditLog(check.database).query({ type: 'admin.job.retried' });
      assert.deepEqual(events.map((e) => [e.actor, e.payload]), [['cli', { jobId: deadId }], ['cli', { all: true, count: 0 }]]);
    } finally {
      await check.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
