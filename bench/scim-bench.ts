/**
 * SCIM throughput and latency with 100,000 users and 1,000 groups, on each store, against two
 * references measured in the same run: a SCIMMY server (the usual Node way) and the HTTP ceiling
 * (a bare route of the same framework returning a body of the same size). Loopback only; every
 * load loop is bounded in count and time. Usage: npm run bench:scim [-- --users N --quick --control]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pgDriver from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadServerConfig } from '../src/app/config.ts';
import { builtCli } from './lib/built-server.ts';
import { closedLoop, cpuMsOf, cpuMsOfCommand, fixedRate, mergeResults, rssOf, type LoadResult, type Req } from './lib/load.ts';
import { seedDirectory } from './lib/seed-directory.ts';
import { postgresDown, scratchPostgresDatabase } from '../test/support/services.ts';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const quick = args.includes('--quick');
/**
 * Control run: the "audit on" server runs with auditing off as well, so the audit cost columns
 * show what the side-by-side method itself reads as a cost when there is none.
 */
const CONTROL = args.includes('--control');
const listArg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]!.split(',').map((v) => v.trim()).filter(Boolean) : undefined;
};
/** `--rows POST,PATCH`: only the rows whose names start with these (a partial run, for iterating). */
const ROW_PREFIXES = listArg('rows');
/** `--stores sqlite`: only these stores (default: both, PostgreSQL when reachable). */
const STORES = listArg('stores');
const USERS = arg('users', quick ? 10_000 : 100_000);
const GROUPS = arg('groups', 1_000);
const BIG = arg('big-group', quick ? 2_000 : 10_000);
const SECONDS = arg('seconds', quick ? 2 : 5);
const MAX_REQUESTS = 20_000;
const CONCURRENCY = 16;
const RATE = 500;
/** What a lookup's answer weighed in earlier runs (the ceiling's first run happens before any lookup). */
const EXPECTED_LOOKUP_BYTES = 788;

interface Row { name: string; req: (i: number) => Req; ok: (s: number) => boolean }

function rows(bigGroupId: string, memberIds: string[], tag: string): Row[] {
  const rand = (n: number) => Math.floor(Math.random() * n);
  let nextMember = 0;
  const all: Row[] = [
    { name: 'lookup userName', ok: (s) => s === 200, req: () => ({ method: 'GET', path: `/Users?filter=${encodeURIComponent(`userName eq "user${rand(USERS)}@example.com"`)}` }) },
    {
      name: 'POST user', ok: (s) => s === 201,
      req: (i) => ({ method: 'POST', path: '/Users', body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `new-${tag}-${i}-${randomUUID()}@example.com`, name: { givenName: 'New', familyName: String(i) }, emails: [{ value: `new${i}@example.com`, type: 'work', primary: true }], active: true }) }),
    },
    {
      name: `PATCH add member (${BIG}-member group)`, ok: (s) => s === 204 || s === 200,
      req: () => ({ method: 'PATCH', path: `/Groups/${bigGroupId}`, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: memberIds[nextMember++ % memberIds.length] }] }] }) }),
    },
    { name: 'list page of 100', ok: (s) => s === 200, req: () => ({ method: 'GET', path: `/Users?startIndex=${1 + rand(USERS - 100)}&count=100` }) },
    // As an Okta import pages through Users: startIndex 1, 101, 201, ... in turn.
    { name: 'import walk, pages of 100', ok: (s) => s === 200, req: (i) => ({ method: 'GET', path: `/Users?startIndex=${1 + (i % Math.floor(USERS / 100)) * 100}&count=100` }) },
  ];
  return ROW_PREFIXES ? all.filter((row) => ROW_PREFIXES.some((prefix) => row.name.startsWith(prefix))) : all;
}

function startChild(command: string[], env: Record<string, string>): Promise<{ child: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, command, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${command.join(' ')} did not start: ${out}`)), 300_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /(LISTENING \d+.*|listening on \S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, line: m[1]! });
      }
    });
    child.on('exit', (code) => reject(new Error(`${command.join(' ')} exited ${code}: ${out}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  child.removeAllListeners('exit');
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

interface Measured { throughput: LoadResult; atRate?: LoadResult; cpuUsPerRequest?: number }

const report = (label: string, name: string, m: Measured) =>
  process.stderr.write(`  [${label}] ${name}: ${m.throughput.rps.toFixed(0)} req/s${m.cpuUsPerRequest === undefined ? '' : ` (${m.cpuUsPerRequest.toFixed(0)} us CPU each)`}, p50 ${m.throughput.p50.toFixed(2)} ms, p99 ${m.throughput.p99.toFixed(2)} ms, errors ${m.throughput.errors}${m.atRate ? `; at ${RATE}/s: ${m.atRate.requests} sent, p99 ${m.atRate.p99.toFixed(2)} ms, errors ${m.atRate.errors}` : ''}${m.throughput.errors + (m.atRate?.errors ?? 0) > 0 ? `; statuses ${JSON.stringify(m.throughput.statuses)} / ${JSON.stringify(m.atRate?.statuses ?? {})}` : ''}\n`);

/** Enough requests for the JIT to optimise the row's path: 200 left the first row of a run measuring a half-warm server. */
const warm = (base: string, headers: Record<string, string>, row: Row) =>
  closedLoop(base, headers, row.req, { concurrency: CONCURRENCY, maxRequests: 2000, maxSeconds: 3, ok: row.ok });
const loadOf = (base: string, headers: Record<string, string>, row: Row, seconds: number) =>
  closedLoop(base, headers, row.req, { concurrency: CONCURRENCY, maxRequests: MAX_REQUESTS, maxSeconds: seconds, ok: row.ok });

/** One server, every row: SCIMMY's reference. */
async function measure(base: string, headers: Record<string, string>, list: Row[]): Promise<Map<string, Measured>> {
  const results = new Map<string, Measured>();
  for (const row of list) {
    await warm(base, headers, row);
    const measured = { throughput: await loadOf(base, headers, row, SECONDS) };
    results.set(row.name, measured);
    report('scimmy', row.name, measured);
  }
  return results;
}

interface Side { base: string; rows: Row[]; pid: number }

/** Load rounds per row and server, alternating (on, off, off, on, ...) so drift of this machine over a run hits both alike. */
const ROUNDS = 4;
/** Longer than the audit buffer's flush delay (100 ms) and the checkpointer's interval (200 ms). */
const SETTLE_MS = 300;

/**
 * The audit cost, measured fairly: servers with auditing on and off run side by side on two
 * copies of the same seeded store, and each row alternates between them (ROUNDS loads each,
 * on, off, off, on, on, off, ...), so drift of this machine over a run hits both alike. Each side's
 * figure merges its rounds. Beside throughput, the CPU each side used per request: the
 * server process (every thread) plus, on the PostgreSQL store, every PostgreSQL process (only
 * the measured server talks to it meanwhile). The fixed-rate latency is measured with auditing on.
 */
async function measurePair(headers: Record<string, string>, on: Side, off: Side, label: string, postgres: boolean): Promise<{ on: Map<string, Measured>; off: Map<string, Measured> }> {
  const results = { on: new Map<string, Measured>(), off: new Map<string, Measured>() };
  for (let r = 0; r < on.rows.length; r++) {
    const rowOn = on.rows[r]!;
    const rowOff = off.rows[r]!;
    await warm(on.base, headers, rowOn);
    await warm(off.base, headers, rowOff);
    const rounds = { on: [] as LoadResult[], off: [] as LoadResult[] };
    const cpuMs = { on: 0, off: 0 };
    const cpuNow = (side: Side) => cpuMsOf(side.pid) + (postgres ? cpuMsOfCommand('postgres') : 0);
    for (let round = 0; round < ROUNDS; round++) {
      // on, off, off, on, on, off, ...: neither side always goes first after the other.
      const order = [['on', on, rowOn], ['off', off, rowOff]] as const;
      for (const [key, side, row] of round % 2 === 0 ? order : [order[1], order[0]]) {
        const before = cpuNow(side);
        rounds[key].push(await loadOf(side.base, headers, row, SECONDS / ROUNDS));
        // The work a load leaves behind (the audit buffer's last flush, a WAL checkpoint) is its own.
        await sleep(SETTLE_MS);
        cpuMs[key] += cpuNow(side) - before;
      }
    }
    const atRate = await fixedRate(on.base, headers, rowOn.req, { rps: RATE, seconds: Math.min(4, SECONDS), ok: rowOn.ok });
    const perRequest = (key: 'on' | 'off') => (cpuMs[key] * 1000) / rounds[key].reduce((n, r) => n + r.requests, 0);
    results.on.set(rowOn.name, { throughput: mergeResults(rounds.on), atRate, cpuUsPerRequest: perRequest('on') });
    results.off.set(rowOff.name, { throughput: mergeResults(rounds.off), cpuUsPerRequest: perRequest('off') });
    report(`${label} audit on`, rowOn.name, results.on.get(rowOn.name)!);
    report(`${label} audit off`, rowOff.name, results.off.get(rowOff.name)!);
  }
  return results;
}

async function vacuumAnalyze(url: string): Promise<void> {
  const client = new pgDriver.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('VACUUM (ANALYZE)');
  } finally {
    await client.end();
  }
}

async function benchRolecall(store: string, label: string): Promise<{ label: string; audit: Map<string, Measured>; noAudit: Map<string, Measured>; rss: { total: number; file: number }; bodyBytes: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rolecall-bench-'));
  const dataDirOff = mkdtempSync(join(tmpdir(), 'rolecall-bench-off-'));
  const pg = store === 'postgres' ? await scratchPostgresDatabase('rolecall_bench') : undefined;
  let pgOff: Awaited<ReturnType<typeof scratchPostgresDatabase>> | undefined;
  const storeSetting = pg ? pg.url : 'sqlite';
  const children: ChildProcess[] = [];
  try {
    process.stderr.write(`[${label}] seeding ${USERS} users, ${GROUPS} groups, one group of ${BIG} members...\n`);
    const t0 = performance.now();
    const seeded = await seedDirectory(loadServerConfig({ store: storeSetting, dataDir, logLevel: 'silent' }), { users: USERS, groups: GROUPS, bigGroupMembers: BIG });
    process.stderr.write(`[${label}] seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    // The audit-off server gets an identical copy of the seeded store. On PostgreSQL the seeded
    // database is vacuumed and analysed first: otherwise autovacuum takes it up during the run
    // (its 100,000 fresh inserts) but not the copy (whose statistics start at zero), and the
    // side with the original reads 5-25% dearer with auditing off on both (a control run).
    if (pg) {
      await vacuumAnalyze(pg.url);
      pgOff = await scratchPostgresDatabase('rolecall_bench_off', { copyOf: pg.url });
    }
    else cpSync(dataDir, dataDirOff, { recursive: true });
    const headers = { authorization: `Bearer ${seeded.token}`, 'content-type': 'application/scim+json', accept: 'application/scim+json' };
    const start = async (audit: boolean) => {
      const { child, line } = await startChild([...builtCli(), 'serve', '--port', '0', '--store', audit ? storeSetting : (pgOff?.url ?? 'sqlite'), '--data-dir', audit ? dataDir : dataDirOff, '--log-level', 'silent'], { ROLECALL_AUDIT: String(audit && !CONTROL) });
      children.push(child);
      const base = `${line.split(' ')[2]}/scim/v2`;
      process.stderr.write(`[${label}] audit ${audit ? 'on' : 'off'}${CONTROL ? ' (control run: auditing is off here too)' : ''}: ${base}\n`);
      return { child, base };
    };
    const on = await start(true);
    const off = await start(false);
    const half = seeded.nonMemberIds.length / 2;
    const measured = await measurePair(
      headers,
      { base: on.base, pid: on.child.pid!, rows: rows(seeded.bigGroupId, seeded.nonMemberIds.slice(0, half), `${label}-on`) },
      { base: off.base, pid: off.child.pid!, rows: rows(seeded.bigGroupId, seeded.nonMemberIds.slice(half), `${label}-off`) },
      label,
      pg !== undefined,
    );
    const rss = rssOf(on.child.pid!);
    const sample = await fetch(`${on.base}/Users?filter=${encodeURIComponent('userName eq "user1@example.com"')}`, { headers });
    const bodyBytes = (await sample.arrayBuffer()).byteLength;
    return { label, audit: measured.on, noAudit: measured.off, rss, bodyBytes };
  } finally {
    for (const child of children) await stop(child);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(dataDirOff, { recursive: true, force: true });
    await pg?.drop();
    await pgOff?.drop();
  }
}

async function benchScimmy(): Promise<Map<string, Measured>> {
  process.stderr.write(`[scimmy] starting reference with ${USERS} users...\n`);
  const { child, line } = await startChild(['--import', 'tsx', 'bench/reference/scimmy-server.ts'], { USERS: String(USERS), GROUPS: String(GROUPS), BIG_GROUP_MEMBERS: String(BIG) });
  const port = line.split(' ')[1];
  try {
    const headers = { authorization: 'Bearer bench', 'content-type': 'application/scim+json', accept: 'application/scim+json' };
    const ids = Array.from({ length: 50_000 }, () => randomUUID());
    return await measure(`http://127.0.0.1:${port}/scim/v2`, headers, rows('big', ids, 'scimmy'));
  } finally {
    await stop(child);
  }
}

async function benchCeiling(bodyBytes: number): Promise<LoadResult> {
  const { child, line } = await startChild(['--import', 'tsx', 'bench/reference/ceiling-server.ts'], { BODY_BYTES: String(bodyBytes) });
  try {
    const base = `http://127.0.0.1:${line.split(' ')[1]}/scim/v2`;
    await closedLoop(base, {}, () => ({ method: 'GET', path: '/Users' }), { concurrency: 4, maxRequests: 200, maxSeconds: 2, ok: (s) => s === 200 });
    return await closedLoop(base, {}, () => ({ method: 'GET', path: '/Users' }), { concurrency: CONCURRENCY, maxRequests: MAX_REQUESTS * 2, maxSeconds: SECONDS, ok: (s) => s === 200 });
  } finally {
    await stop(child);
  }
}

const f = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

async function main() {
  const stores: string[] = STORES?.includes('sqlite') === false ? [] : ['sqlite'];
  if (STORES?.includes('postgres') === false) process.stderr.write('postgres store not asked for (--stores)\n');
  else if ((await postgresDown()) === null) stores.push('postgres');
  else process.stderr.write('!!! PostgreSQL not reachable: the postgres store rows are skipped\n');
  if (stores.length === 0) throw new Error('--stores names no store to measure');
  // The references run before and after Rolecall's rows, and each ratio is taken against the
  // faster of the two: this machine's speed moves within a run, and a reference measured only
  // in a slower stretch flatters every ratio. The first ceiling run returns a body of the size
  // a lookup answered with in earlier runs; the second, of the size measured in this one.
  const scimmyBefore = await benchScimmy();
  const ceilingBefore = await benchCeiling(EXPECTED_LOOKUP_BYTES);
  const results = [];
  for (const store of stores) results.push(await benchRolecall(store, store));
  const scimmyAfter = await benchScimmy();
  const ceilingAfter = await benchCeiling(results[0]!.bodyBytes);
  const ceiling = ceilingAfter.rps >= ceilingBefore.rps ? ceilingAfter : ceilingBefore;
  const scimmy = new Map([...scimmyAfter].map(([name, after]) => {
    const before = scimmyBefore.get(name)!;
    return [name, before.throughput.rps > after.throughput.rps ? before : after];
  }));

  const lines: string[] = [];
  lines.push(`SCIM benchmark: ${USERS} users, ${GROUPS} groups, PATCH into a ${BIG}-member group; ${CONCURRENCY} concurrent clients; per row and server ${SECONDS} s in ${ROUNDS} rounds of <= ${SECONDS / ROUNDS} s or ${MAX_REQUESTS} requests, alternating audit on/off servers${CONTROL ? ' (CONTROL RUN: auditing off on both)' : ''}${ROW_PREFIXES || STORES ? ` (PARTIAL RUN: rows ${ROW_PREFIXES?.join(', ') ?? 'all'}, stores ${stores.join(', ')})` : ''}; loopback, ${new Date().toISOString().slice(0, 10)}, node ${process.version}`);
  lines.push(`HTTP ceiling (bare Hono route, ${results[0]!.bodyBytes}-byte JSON body): ${f(ceiling.rps)} req/s, p50 ${f(ceiling.p50, 2)} ms, p99 ${f(ceiling.p99, 2)} ms (the faster of ${f(ceilingBefore.rps)} before and ${f(ceilingAfter.rps)} after Rolecall's rows)`);
  lines.push(`SCIMMY POST before / after Rolecall's rows: ${f(scimmyBefore.get('POST user')?.throughput.rps ?? NaN)} / ${f(scimmyAfter.get('POST user')?.throughput.rps ?? NaN)} req/s (each row's ratio uses the faster)`);
  lines.push('');
  lines.push(`| store | request | req/s | p50 ms | p99 ms | p99 ms at ${RATE}/s (sent) | SCIMMY req/s | x SCIMMY | % of ceiling | req/s audit off | audit cost | CPU us/req on / off | CPU cost |`);
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    for (const [name, m] of r.audit) {
      const ref = scimmy.get(name)!.throughput;
      const off = r.noAudit.get(name)!.throughput;
      const cost = (1 - m.throughput.rps / off.rps) * 100;
      const cpuOff = r.noAudit.get(name)!.cpuUsPerRequest ?? NaN;
      const cpuOn = m.cpuUsPerRequest ?? NaN;
      lines.push(`| ${r.label} | ${name} | ${f(m.throughput.rps)} | ${f(m.throughput.p50, 2)} | ${f(m.throughput.p99, 2)} | ${f(m.atRate?.p99 ?? NaN, 2)} (${m.atRate?.requests ?? 0}) | ${f(ref.rps)} | ${f(m.throughput.rps / ref.rps, 1)}x | ${f((m.throughput.rps / ceiling.rps) * 100)}% | ${f(off.rps)} | ${f(cost, 1)}% | ${f(cpuOn)} / ${f(cpuOff)} | ${f((cpuOn / cpuOff - 1) * 100, 1)}% |`);
    }
  }
  lines.push('');
  for (const r of results) lines.push(`${r.label}: server resident memory after the run: ${f(r.rss.total / 1_048_576)} MB, of which ${f(r.rss.file / 1_048_576)} MB file-backed (the program's mapped files)`);
  const errors = results.flatMap((r) => [...r.audit.values(), ...r.noAudit.values()]).reduce((n, m) => n + m.throughput.errors + (m.atRate?.errors ?? 0), 0);
  lines.push(`non-2xx answers during the Rolecall runs: ${errors}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
