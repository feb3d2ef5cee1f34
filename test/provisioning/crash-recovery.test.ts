import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { KyselyDirectoryView } from '../../src/directory/kysely-directory-view.ts';
import { AccountRegistry } from '../../src/provisioning/account-registry.ts';
import { JobQueue } from '../../src/provisioning/job-queue.ts';
import { WorkerPool } from '../../src/provisioning/worker-pool.ts';
import { DirectoryFixture, policyOf, policyTarget } from './directory-fixture.ts';
import { MemoryTarget } from './memory-target.ts';
import { eachStore } from './store-databases.ts';
import { waitFor } from './wait-for.ts';

const child = fileURLToPath(new URL('./claim-and-hang.ts', import.meta.url));

/** Starts a process that claims a job, waits for the claim, and SIGKILLs it. Returns the job id. */
async function claimAndKill(dialect: string, location: string, leaseMs: number): Promise<number> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, dialect, location, String(leaseMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (chunk) => (out += String(chunk)));
  await waitFor('the child to claim', () => out.includes('\n'), 20_000);
  const exited = once(proc, 'exit');
  proc.kill('SIGKILL');
  const [code, signal] = await exited;
  assert.equal(signal, 'SIGKILL', `exit code ${String(code)}`);
  return Number(out.trim());
}

test('a job held by a SIGKILLed process is run again after restart', (t) =>
  eachStore(t, async ({ database, location }) => {
    const policy = policyOf([policyTarget('db1')], [{ group: { by: 'displayName', value: 'Analysts' }, grants: { db1: ['reader'] } }]);
    const dir = new DirectoryFixture(database, []);
    await dir.user('u1', 'ann');
    await dir.group('g1', 'Analysts');
    await dir.members('g1', { add: [{ value: 'u1', type: 'User' }] });
    const queue = new JobQueue(database, { leaseMs: 500, backoff: { baseMs: 1, maxMs: 1 } });
    await queue.enqueue([{ tenantId: 't1', userId: 'u1', target: 'db1' }]);

    const jobId = await claimAndKill(database.dialect, location, 500);
    assert.equal((await queue.getJob(jobId))?.state, 'running');
    assert.equal((await queue.getJob(jobId))?.lockedBy, 'doomed');

    // The restarted process: on SQLite it owns the store, so it takes back every running job at
    // once; on PostgreSQL other instances may be alive, so it waits for the lease to lapse.
    const target = new MemoryTarget('db1');
    const pool = new WorkerPool({
      queue,
      policy: () => policy,
      targets: () => target,
      view: new KyselyDirectoryView(database),
      accounts: new AccountRegistry(database.db),
      pollIntervalMs: 20,
      recoverAllOnStart: database.dialect === 'sqlite',
    });
    const started = Date.now();
    pool.start();
    try {
      await waitFor('the job to be done', async () => (await queue.getJob(jobId))?.state === 'done', 10_000);
    } finally {
      await pool.stop();
    }
    if (database.dialect === 'postgres') assert.ok(Date.now() - started >= 300, 'not before the lease lapsed');
    assert.deepEqual((await target.readAccount('ann')).roles, ['reader']);
    assert.deepEqual((await queue.attempts(jobId)).map((a) => [a.outcome, a.worker]), [
      ['expired', 'doomed'],
      ['done', pool.workerId],
    ]);
  }));
