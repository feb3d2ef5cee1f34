import type { Command } from 'commander';
import { loadPolicy } from '../policy/load-policy.ts';
import { redactUrl } from '../policy/redact-url.ts';
import { createTarget } from '../app/create-target.ts';
import { RolecallError } from '../domain/errors.ts';
import type { Job } from '../provisioning/job.ts';
import type { AccountPlan } from '../provisioning/reconciler.ts';
import { withEngine } from './engine-context.ts';
import { print, withStoreOptions } from './store-options.ts';

const withPolicy = (command: Command) => withStoreOptions(command).option('--policy <file>', 'access policy file [env ROLECALL_POLICY]');

export function registerProvisioning(program: Command): void {
  withPolicy(program.command('plan'))
    .description('print the exact statements a reconcile would run, without running them')
    .option('--target <name>', 'only this target')
    .option('--user <idOrUserName>', 'only this user')
    .option('--json', 'machine-readable output')
    .action((options: Record<string, string>) =>
      withEngine(options, true, async ({ ops, resolveUser }) => {
        const user = await resolveUser(options.user);
        const plans = (await ops.plan({ ...(options.target ? { target: options.target } : {}), ...(user ? { user } : {}) })) as AccountPlan[];
        if (options.json) return print(JSON.stringify(plans, null, 2));
        printPlans(plans);
      }),
    );

  withPolicy(program.command('reconcile'))
    .description('compare every managed account with the directory and repair the drift')
    .option('--target <name>', 'only this target')
    .option('--user <idOrUserName>', 'only this user')
    .action((options: Record<string, string>) =>
      withEngine(options, true, async ({ ops, resolveUser }) => {
        const user = await resolveUser(options.user);
        const report = (await ops.reconcile({ ...(options.target ? { target: options.target } : {}), ...(user ? { user } : {}) })) as {
          plans: number; drifted: number; applied: { target: string; login: string; finding: string; state: string; error: string | null }[];
        };
        print(`planned ${report.plans} account(s), ${report.drifted} drifted`);
        for (const a of report.applied) print(`${a.target}\t${a.login}\t${a.finding}\t${a.state}${a.error ? `\t${a.error}` : ''}`);
        if (report.applied.some((a) => a.state === 'failed' || a.state === 'dead')) process.exitCode = 1;
      }),
    );

  const jobs = program.command('jobs').description('provisioning jobs (outbox)');
  withStoreOptions(jobs.command('list'))
    .description('list jobs, newest first')
    .option('--failed', 'only jobs whose last run failed (retrying or dead-lettered)')
    .option('--state <state>', 'queued | running | done | dead')
    .option('--target <name>', 'only this target')
    .action((options: Record<string, string | boolean>) =>
      withEngine(options, false, async ({ ops }) => {
        const list = (await ops.listJobs({
          ...(options.failed ? { failed: true } : {}),
          ...(typeof options.state === 'string' ? { state: options.state } : {}),
          ...(typeof options.target === 'string' ? { target: options.target } : {}),
        })) as Job[];
        print(['ID', 'STATE', 'TARGET', 'TENANT', 'USER', 'ATTEMPTS', 'RUN AFTER', 'LAST ERROR'].join('\t'));
        for (const j of list) print([j.id, j.state, j.target, j.tenantId, j.userId, j.attempts, j.runAfter, j.lastError ?? ''].join('\t'));
      }),
    );
  withStoreOptions(jobs.command('retry'))
    .description('queue dead-lettered jobs again')
    .argument('[id]', 'job id')
    .option('--all', 'every dead-lettered job')
    .action((id: string | undefined, options: Record<string, string | boolean>) =>
      withEngine(options, false, async ({ ops }) => {
        if (options.all) return print(`requeued ${await ops.retryAllJobs('cli')} job(s)`);
        if (!id || !/^\d+$/.test(id)) throw new RolecallError('reject', 'give a job id or --all');
        if (!(await ops.retryJob(Number(id), 'cli'))) throw new RolecallError('reject', `job ${id} is not dead-lettered or does not exist`);
        print(`requeued job ${id}`);
      }),
    );

  program
    .command('check-config')
    .description('validate a policy file, connect to each target and name missing privileges')
    .argument('<file>', 'policy file')
    .action(async (file: string) => {
      const policy = await loadPolicy(file);
      print(`${file}: valid (${policy.targets.length} target(s), ${policy.mappings.length} mapping(s))`);
      let problems = 0;
      for (const config of policy.targets) {
        const label = `target ${config.name} (${config.kind}, ${redactUrl(config.connection.url)})`;
        let target;
        try {
          target = createTarget(config);
        } catch (error) {
          problems += 1;
          print(`${label}: ${(error as Error).message}`);
          continue;
        }
        try {
          const missing = await target.missingPrivileges();
          if (missing.length === 0) print(`${label}: connected; provisioning account has every privilege it needs`);
          else {
            problems += 1;
            print(`${label}: MISSING privileges:`);
            for (const m of missing) print(`  - ${m}`);
          }
        } catch (error) {
          problems += 1;
          print(`${label}: cannot connect or inspect: ${(error as Error).message}`);
        } finally {
          await target.close().catch(() => undefined);
        }
      }
      if (problems > 0) process.exitCode = 1;
    });
}

function printPlans(plans: AccountPlan[]): void {
  const drifted = plans.filter((p) => p.finding !== 'in-sync');
  print(`${plans.length} account(s) checked, ${drifted.length} with drift or conflicts`);
  for (const p of drifted) {
    print(`\n# ${p.target} ${p.login || '(target)'}${p.userId ? ` user ${p.userId}` : ''}: ${p.findings.join(', ')}${p.message ? ` — ${p.message}` : ''}`);
    for (const s of p.statements) print(`  ${s}`);
  }
}
