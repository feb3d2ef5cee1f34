import type { Command } from 'commander';
import { auditQuery } from '../app/admin-operations.ts';
import { RolecallError } from '../domain/errors.ts';
import { withEngine } from './engine-context.ts';
import { print, withStoreOptions } from './store-options.ts';

const FILTERS: [string, string][] = [
  ['--user <id>', 'directory user id'],
  ['--group <id>', 'directory group id'],
  ['--target <name>', 'provisioning target'],
  ['--type <types>', 'event types, comma-separated (scim.request, directory.change, provision.step, reconcile.finding, admin.*)'],
  ['--from <time>', 'events at or after this time'],
  ['--to <time>', 'events before this time'],
];

function withFilters(command: Command): Command {
  for (const [flag, help] of FILTERS) command.option(flag, help);
  return withStoreOptions(command);
}

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit trail');

  withStoreOptions(audit.command('verify'))
    .description('check the hash chain; names the first edited, deleted, reordered or inserted event')
    .action((options: Record<string, string>) =>
      withEngine(options, false, async ({ audit: log }) => {
        const result = await log.verify();
        if (result.ok) {
          print(`audit chain OK: ${result.events} event(s) verified in ${result.ms.toFixed(0)} ms (${Math.round(result.eventsPerSecond)} events/s), head seq ${result.head.seq}${result.checkpointSeq === null ? '' : `, from checkpoint at seq ${result.checkpointSeq}`}`);
        } else {
          print(`audit chain BROKEN at seq ${result.firstBad.seq}: ${result.firstBad.reason} (${result.events} event(s) verified before it)`);
          process.exitCode = 1;
        }
      }),
    );

  withFilters(audit.command('query'))
    .description('print matching events (JSON Lines), oldest first')
    .option('--limit <n>', 'at most this many events', '100')
    .option('--after <seq>', 'events after this seq (paging)')
    .action((options: Record<string, string>) =>
      withEngine(options, false, async ({ audit: log }) => {
        for (const event of await log.query(auditQuery(options))) print(JSON.stringify(event));
      }),
    );

  withFilters(audit.command('export'))
    .description('export matching events as JSON Lines or CSV to stdout')
    .requiredOption('--format <format>', 'jsonl or csv')
    .action((options: Record<string, string>) =>
      withEngine(options, false, async ({ audit: log }) => {
        if (options.format !== 'jsonl' && options.format !== 'csv') throw new RolecallError('reject', '--format must be jsonl or csv');
        const { limit: _limit, ...filter } = auditQuery(options);
        const write = (chunk: string) => new Promise<void>((resolve) => (process.stdout.write(chunk) ? resolve() : process.stdout.once('drain', resolve)));
        const count = options.format === 'csv' ? await log.exportCsv(filter, write) : await log.exportJsonl(filter, write);
        process.stderr.write(`exported ${count} event(s)\n`);
      }),
    );

  withStoreOptions(audit.command('prune'))
    .description('remove events before a time, recording a checkpoint that keeps the chain verifiable')
    .requiredOption('--before <time>', 'remove events before this time')
    .action((options: Record<string, string>) =>
      withEngine(options, false, async ({ audit: log }) => {
        const { removed, checkpoint } = await log.prune(options.before!, { actor: 'cli' });
        print(`removed ${removed} event(s)${checkpoint ? `; checkpoint at seq ${checkpoint.seq}` : ''}`);
      }),
    );
}

export function registerAccess(program: Command): void {
  const access = withStoreOptions(program.command('access'))
    .description('who has (or had, with --at) which roles on which target, since when, granted by which group')
    .option('--policy <file>', 'access policy file [env ROLECALL_POLICY]')
    .option('--target <name>', 'only this target')
    .option('--user <idOrUserName>', 'only this user')
    .option('--at <time>', 'answer for a past time, from the audit trail')
    .option('--format <format>', 'table, json or csv', 'table')
    .action((options: Record<string, string>) =>
      withEngine(options, !options.at, async ({ ops, resolveUser }) => {
        const user = await resolveUser(options.user);
        const rows = (await ops.access({ ...(options.target ? { target: options.target } : {}), ...(user ? { user } : {}), ...(options.at ? { at: options.at } : {}) })) as Record<string, unknown>[];
        printRows(rows, options.format ?? 'table');
      }),
    );

  withStoreOptions(access.command('review'))
    .description('access-review export: every account, its roles, granting groups, last change, and whether it matches the directory')
    .option('--policy <file>', 'access policy file [env ROLECALL_POLICY]')
    .option('--format <format>', 'csv or json', 'csv')
    .action((options: Record<string, string>) =>
      withEngine(options, true, async ({ ops }) => {
        process.stdout.write(await ops.accessReview(options.format === 'json' ? 'json' : 'csv'));
      }),
    );

  withStoreOptions(access.command('time-to-revoke'))
    .description('time from each deactivation or deletion to the last offboarding step per target, slowest first')
    .option('--since <time>', 'only offboardings since this time')
    .action((options: Record<string, string>) =>
      withEngine(options, false, async ({ ops }) => {
        const rows = (await ops.timeToRevoke(options.since ? { since: options.since } : {})) as Record<string, unknown>[];
        printRows(rows, 'table');
      }),
    );
}

function printRows(rows: Record<string, unknown>[], format: string): void {
  if (format === 'json') return print(JSON.stringify(rows, null, 2));
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (v === null || v === undefined ? '' : Array.isArray(v) ? v.join(';') : String(v));
  if (format === 'csv') {
    const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
    print(columns.join(','));
    for (const r of rows) print(columns.map((c) => quote(cell(r[c]))).join(','));
    return;
  }
  print(columns.map((c) => c.toUpperCase()).join('\t'));
  for (const r of rows) print(columns.map((c) => cell(r[c])).join('\t'));
  if (rows.length === 0) print('(none)');
}
