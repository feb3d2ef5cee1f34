/**
 * Provisioning benchmark: how fast the directory reaches PostgreSQL and MariaDB through Rolecall.
 *
 * 1. SCIM write -> change visible on the target, at a fixed rate (open loop): each write adds a
 *    user to a mapped group; a superuser connection per target polls the catalog until the grant
 *    (and the login) is visible. p50/p99 from the SCIM response.
 * 2. `active: false` -> the user's open session ended, on both targets (a session held as the user).
 * 3. Initial sync of a seeded directory (jobs queued by the outbox with the directory writes, the
 *    server started afterwards) until every login and grant exists, against the same statements
 *    sent directly by a plain client (raw baseline, same provisioner, same run).
 *
 * The server runs as a child process with ROLECALL_RECONCILE_INTERVAL=0 and the embedded store;
 * both targets go through least-privileged provisioners. Loopback only; every loop is bounded in
 * count and time; every role, user and data folder the run creates is removed at the end.
 *
 * Usage: npm run bench:provision [-- --quick] [--writes N] [--rate N] [--sessions N] [--users N]
 *        [--maria-users N] [--groups N] [--concurrency N] [--sync-runs N] [--skip-latency] [--skip-sync] [--cpu-prof DIR]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrantWatcher, mariadbCounts, postgresCounts, type SyncCounts } from './provision/catalog.ts';
import {
  cleanupAll,
  createProvisioners,
  dropMariadbAccounts,
  dropPostgresRoles,
  holdMariadbSession,
  holdPostgresSession,
  mariaAdmin,
  pgAdmin,
  type HeldSession,
  type Provisioners,
  vacuumPostgresCatalogs,
} from './provision/databases.ts';
import { rawMariadb, rawPostgres } from './provision/raw-baseline.ts';
import { groupsOf, seedWithOutbox } from './provision/seed.ts';
import { closeAgent, jobMetrics, profileServersInto, request, startServer, stopServer, waitForIdleQueue, type ChildServer } from './provision/server.ts';
import { mariadbDown, postgresDown } from '../test/support/services.ts';
import { account } from '../src/targets/mysql/mysql-sql.ts';
import mysql from 'mysql2/promise';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const quick = args.includes('--quick');
const WRITES = arg('writes', quick ? 100 : 500);
const RATE = arg('rate', 50);
const SESSIONS = arg('sessions', quick ? 5 : 20);
const USERS = arg('users', quick ? 1_000 : 10_000);
/** MariaDB account DDL slows down as accounts accumulate (raw: ~5 users/s past 3,000 here), so its sync size can be set apart. */
const MARIA_USERS = arg('maria-users', USERS);
const USERS_PG = USERS;
const GROUPS = arg('groups', 50);
const GROUPS_PER_USER = 2;
const CONCURRENCY = arg('concurrency', 4);
/** Initial syncs per target: a single run moves by a factor of two here, the median of several less. */
const SYNC_RUNS = Math.max(1, arg('sync-runs', 1));
const cpuProf = args.indexOf('--cpu-prof');
profileServersInto(cpuProf >= 0 ? args[cpuProf + 1] : undefined);
/** Bounds: a write not visible after this long counts as missed; a sync not converged after this long stops. */
const VISIBLE_TIMEOUT_MS = 60_000;
const SESSION_TIMEOUT_MS = 10_000;
const SYNC_TIMEOUT_MS = quick ? 180_000 : 1_200_000;

const TARGET_PG = 'pg';
const TARGET_MARIA = 'mariadb';
const SCIM_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const SCIM_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(' ');
const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};
const f = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : n === Infinity ? 'not seen' : 'n/a');

type Kind = 'pg' | 'mariadb';

function writePolicy(dir: string, p: Provisioners, kinds: Kind[], prefix: string, groups: number): string {
  const targets = kinds.map((kind) =>
    kind === 'pg'
      ? { name: TARGET_PG, kind: 'postgres', connection: { url: p.pgUrl }, login: '{localPart}', offboarding: 'lock', concurrency: CONCURRENCY }
      : { name: TARGET_MARIA, kind: 'mysql', flavor: 'mariadb', connection: { url: p.mariaUrl }, login: '{localPart}', offboarding: 'lock', concurrency: CONCURRENCY },
  );
  const mappings = Array.from({ length: groups }, (_, g) => ({
    group: `${prefix}group_${g}`,
    grants: Object.fromEntries(kinds.map((kind) => [kind === 'pg' ? TARGET_PG : TARGET_MARIA, [`${prefix}role_${g}`]])),
  }));
  const file = join(dir, 'policy.json');
  writeFileSync(file, JSON.stringify({ version: 1, targets, mappings }, null, 2), { mode: 0o600 });
  return file;
}

async function ok<A extends { status: number; body: string }>(answer: Promise<A>, expect: number[], what: string): Promise<A> {
  const a = await answer;
  if (!expect.includes(a.status)) throw new Error(`${what}: HTTP ${a.status} ${a.body.slice(0, 300)}`);
  return a;
}

/** Runs `fn` over items with at most `limit` in flight. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}

interface LatencyResult {
  writes: number;
  httpErrors: number;
  scimP50: number;
  scimP99: number;
  perTarget: Map<Kind, { seen: number[]; missed: number; meanJobMs: number }>;
  sessions: Map<Kind, { ended: number[]; missed: number }>;
  offeredRate: number;
  achievedSeconds: number;
}

async function latencyPhase(p: Provisioners): Promise<LatencyResult> {
  const dir = mkdtempSync(join(tmpdir(), 'rolecall-provbench-'));
  const prefix = `${p.token}_l_`;
  let server: ChildServer | undefined;
  const held: HeldSession[] = [];
  try {
    const policy = writePolicy(dir, p, ['pg', 'mariadb'], prefix, GROUPS);
    server = await startServer({ dataDir: join(dir, 'data'), policy, expectToken: true });
    const base = `${server.url}/scim/v2`;
    const headers = { authorization: `Bearer ${server.token}`, accept: 'application/scim+json' };
    log(`[latency] server ${server.url}; creating ${GROUPS} groups and ${WRITES + GROUPS} users (not measured)`);
    const groupIds = await pool(Array.from({ length: GROUPS }, (_, g) => g), 8, async (g) =>
      JSON.parse((await ok(request(base, 'POST', '/Groups', headers, { schemas: [SCIM_GROUP], displayName: `${prefix}group_${g}` }), [201], 'POST group')).body).id as string);
    const userName = (i: number) => `${prefix}u${i}@example.com`;
    const login = (i: number) => `${prefix}u${i}`;
    // Users 0..WRITES-1 are measured; WRITES..WRITES+GROUPS-1 warm up (one per group: target init, group roles).
    const userIds = await pool(Array.from({ length: WRITES + GROUPS }, (_, i) => i), 8, async (i) =>
      JSON.parse((await ok(request(base, 'POST', '/Users', headers, { schemas: [SCIM_USER], userName: userName(i), active: true }), [201], 'POST user')).body).id as string);
    const addMember = (g: number, userId: string) =>
      request(base, 'PATCH', `/Groups/${groupIds[g]}`, headers, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: userId }] }] });
    for (let g = 0; g < GROUPS; g++) await ok(addMember(g, userIds[WRITES + g]!), [200, 204], 'warm-up PATCH');
    if (!(await waitForIdleQueue(server.url, 120_000))) throw new Error('warm-up jobs did not finish within 120 s');
    const afterWarmup = await jobMetrics(server.url);

    const watchers = new Map<Kind, GrantWatcher>([['pg', await GrantWatcher.postgres()], ['mariadb', await GrantWatcher.mariadb()]]);
    const perTarget = new Map<Kind, { seen: number[]; missed: number; meanJobMs: number }>([['pg', { seen: [], missed: 0, meanJobMs: NaN }], ['mariadb', { seen: [], missed: 0, meanJobMs: NaN }]]);
    const scimMs: number[] = [];
    let httpErrors = 0;
    log(`[latency] ${WRITES} PATCH add-member writes at ${RATE}/s`);
    const started = performance.now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < WRITES; i++) {
      const due = started + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const g = i % GROUPS;
      inflight.push((async () => {
        const answer = await addMember(g, userIds[i]!).catch(() => undefined);
        if (!answer || (answer.status !== 204 && answer.status !== 200)) {
          httpErrors += 1;
          return;
        }
        scimMs.push(answer.at - due);
        await Promise.all([...watchers].map(async ([kind, watcher]) => {
          const seenAt = await watcher.watch(login(i), `${prefix}role_${g}`, answer.at, VISIBLE_TIMEOUT_MS);
          const entry = perTarget.get(kind)!;
          if (seenAt === undefined) entry.missed += 1;
          else entry.seen.push(seenAt - answer.at);
        }));
      })());
    }
    await Promise.all(inflight);
    const achievedSeconds = (performance.now() - started) / 1000;
    for (const w of watchers.values()) await w.stop();
    await waitForIdleQueue(server.url, 30_000);
    // Mean job time of the measured writes only (histogram sums minus the warm-up's).
    const after = await jobMetrics(server.url);
    for (const [kind, name] of [['pg', TARGET_PG], ['mariadb', TARGET_MARIA]] as const) {
      const n = (after.jobsDone.get(name) ?? 0) - (afterWarmup.jobsDone.get(name) ?? 0);
      const sum = (after.meanJobMs.get(name) ?? 0) * (after.jobsDone.get(name) ?? 0) - (afterWarmup.meanJobMs.get(name) ?? 0) * (afterWarmup.jobsDone.get(name) ?? 0);
      perTarget.get(kind)!.meanJobMs = n > 0 ? sum / n : NaN;
    }

    log(`[sessions] ${SESSIONS} users: session held on each target, then PATCH active:false`);
    const sessions = new Map<Kind, { ended: number[]; missed: number }>([['pg', { ended: [], missed: 0 }], ['mariadb', { ended: [], missed: 0 }]]);
    const password = `bench-${p.token}`;
    const root = await mariaAdmin();
    try {
      for (let i = 0; i < Math.min(SESSIONS, WRITES); i++) {
        // Set outside Rolecall (it creates MariaDB users with an unusable credential), only to log in.
        await root.query(`ALTER USER ${account(login(i))} IDENTIFIED BY ${mysql.escape(password)}`);
      }
    } finally {
      await root.end();
    }
    for (let i = 0; i < Math.min(SESSIONS, WRITES); i++) {
      const pair = { pg: await holdPostgresSession(login(i)), mariadb: await holdMariadbSession(login(i), password) };
      held.push(pair.pg, pair.mariadb);
      const answer = await ok(request(base, 'PATCH', `/Users/${userIds[i]}`, headers, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] }), [200, 204], 'PATCH active:false');
      await Promise.all((['pg', 'mariadb'] as const).map(async (kind) => {
        const endedAt = await Promise.race([pair[kind].ended, sleep(SESSION_TIMEOUT_MS).then(() => undefined)]);
        const entry = sessions.get(kind)!;
        if (endedAt === undefined) entry.missed += 1;
        else entry.ended.push(Math.max(0, endedAt - answer.at));
      }));
      await sleep(50);
    }
    return { writes: WRITES, httpErrors, scimP50: quantile(scimMs, 0.5), scimP99: quantile(scimMs, 0.99), perTarget, sessions, offeredRate: RATE, achievedSeconds };
  } finally {
    for (const s of held) await s.close();
    if (server) await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
    await dropPostgresRoles(prefix);
    await dropMariadbAccounts(prefix);
  }
}

interface SyncResult {
  kind: Kind;
  users: number;
  expected: SyncCounts;
  reached: SyncCounts;
  converged: boolean;
  seedSeconds: number;
  fromSpawn: number;
  fromListening: number;
  raw: { seconds: number; statements: number };
  meanJobMs: number;
  dead: number;
  /** Provisioning steps by "op outcome" (rolecall_provision_steps_total). */
  steps: Record<string, number>;
}

async function syncPhase(p: Provisioners, kind: Kind): Promise<SyncResult> {
  const USERS = kind === 'pg' ? USERS_PG : MARIA_USERS;
  const shape = { users: USERS, groups: GROUPS, groupsPerUser: GROUPS_PER_USER };
  const expected = { logins: USERS, grants: USERS * GROUPS_PER_USER };
  const rawPrefix = `${p.token}_x${kind === 'pg' ? 'p' : 'm'}_`;
  const prefix = `${p.token}_s${kind === 'pg' ? 'p' : 'm'}_`;
  const dir = mkdtempSync(join(tmpdir(), 'rolecall-provbench-'));
  let server: ChildServer | undefined;
  try {
    // Raw baseline first, then its roles are dropped (and the role catalogs vacuumed, before
    // each run) so both runs start from the same catalog.
    if (kind === 'pg') await vacuumPostgresCatalogs();
    const rawShape = { users: USERS, groups: GROUPS, groupsOf: (i: number) => groupsOf(i, shape), login: (i: number) => `${rawPrefix}u${i}`, role: (g: number) => `${rawPrefix}role_${g}` };
    log(`[sync ${kind}] raw baseline: ${USERS} users, ${GROUPS} groups, ${USERS * GROUPS_PER_USER} grants`);
    const raw = kind === 'pg' ? await rawPostgres(p.pgUrl, rawShape) : await rawMariadb(p.mariaUrl, rawShape);
    log(`[sync ${kind}] raw: ${raw.statements} statements in ${raw.seconds.toFixed(2)} s`);
    if (kind === 'pg') {
      await dropPostgresRoles(rawPrefix);
      await vacuumPostgresCatalogs();
    } else await dropMariadbAccounts(rawPrefix);

    const policy = writePolicy(dir, p, [kind], prefix, GROUPS);
    const dataDir = join(dir, 'data');
    const t0 = performance.now();
    await seedWithOutbox(dataDir, policy, { ...shape, prefix });
    const seedSeconds = (performance.now() - t0) / 1000;
    log(`[sync ${kind}] seeded ${USERS} users, ${GROUPS} groups, ${USERS * GROUPS_PER_USER} memberships (jobs queued) in ${seedSeconds.toFixed(1)} s; starting the server`);

    const admin = kind === 'pg' ? await pgAdmin() : await mariaAdmin();
    const count = () => (kind === 'pg' ? postgresCounts(admin as Awaited<ReturnType<typeof pgAdmin>>, `${prefix}u`, `${prefix}role_`) : mariadbCounts(admin as Awaited<ReturnType<typeof mariaAdmin>>, `${prefix}u`, `${prefix}role_`));
    let reached: SyncCounts = { logins: 0, grants: 0 };
    let convergedAt: number | undefined;
    try {
      server = await startServer({ dataDir, policy, expectToken: false });
      const deadline = server.spawnedAt + SYNC_TIMEOUT_MS;
      let lastLog = performance.now();
      while (performance.now() < deadline) {
        reached = await count();
        if (reached.logins >= expected.logins && reached.grants >= expected.grants) {
          convergedAt = performance.now();
          break;
        }
        if (performance.now() - lastLog > 5000) {
          lastLog = performance.now();
          log(`[sync ${kind}]   ${((lastLog - server.spawnedAt) / 1000).toFixed(0)} s: ${reached.logins}/${expected.logins} logins, ${reached.grants}/${expected.grants} grants`);
        }
        await sleep(50);
      }
    } finally {
      await (admin as { end(): Promise<void> }).end();
    }
    const metrics = await jobMetrics(server.url);
    const name = kind === 'pg' ? TARGET_PG : TARGET_MARIA;
    const result: SyncResult = {
      kind, users: USERS, expected, reached, converged: convergedAt !== undefined, seedSeconds,
      fromSpawn: convergedAt === undefined ? NaN : (convergedAt - server.spawnedAt) / 1000,
      fromListening: convergedAt === undefined ? NaN : (convergedAt - server.listeningAt) / 1000,
      raw, meanJobMs: metrics.meanJobMs.get(name) ?? NaN, dead: metrics.jobs.get(name)?.dead ?? 0, steps: metrics.steps.get(name) ?? {},
    };
    log(`[sync ${kind}] ${result.converged ? `converged ${result.fromSpawn.toFixed(2)} s after spawn (${result.fromListening.toFixed(2)} s after listening)` : `NOT converged within ${SYNC_TIMEOUT_MS / 1000} s`}; mean job ${f(result.meanJobMs, 1)} ms; dead jobs ${result.dead}`);
    return result;
  } finally {
    if (server) await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
    if (kind === 'pg') await dropPostgresRoles(prefix);
    else await dropMariadbAccounts(prefix);
  }
}

function report(latency: LatencyResult | undefined, syncs: SyncResult[]): string {
  const lines: string[] = [];
  lines.push(`Provisioning benchmark${quick ? ' (--quick)' : ''}: loopback, embedded store, audit on, policy target concurrency ${CONCURRENCY}, ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} CPUs, load average at start ${loadAtStart} / at end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  lines.push('');
  lines.push('| measurement | target | figure | value | goal | met |');
  lines.push('|---|---|---|---:|---:|:---:|');
  const yes = (b: boolean) => (b ? 'yes' : '**no**');
  if (latency) {
    for (const kind of ['pg', 'mariadb'] as const) {
      const t = latency.perTarget.get(kind)!;
      const label = kind === 'pg' ? 'PostgreSQL' : 'MariaDB';
      // A write never seen within the deadline counts as infinitely late in the percentiles.
      const all = [...t.seen, ...Array<number>(t.missed).fill(Infinity)];
      const p50 = quantile(all, 0.5);
      const p99 = quantile(all, 0.99);
      const what = `SCIM response -> grant visible (${latency.writes} writes at ${latency.offeredRate}/s${t.missed ? `, ${t.missed} not seen in ${VISIBLE_TIMEOUT_MS / 1000} s` : ''})`;
      const ms = (v: number) => (v === Infinity ? `> ${VISIBLE_TIMEOUT_MS} ms (not seen)` : `${f(v, 1)} ms`);
      lines.push(`| ${what} | ${label} | p50 | ${ms(p50)} | < 100 ms | ${yes(p50 < 100)} |`);
      lines.push(`| ${what} | ${label} | p99 | ${ms(p99)} | < 1000 ms | ${yes(p99 < 1000)} |`);
    }
    for (const kind of ['pg', 'mariadb'] as const) {
      const s = latency.sessions.get(kind)!;
      const label = kind === 'pg' ? 'PostgreSQL' : 'MariaDB';
      const all = [...s.ended, ...Array<number>(s.missed).fill(Infinity)];
      const what = `PATCH active:false response -> open session ended (${all.length} users${s.missed ? `, ${s.missed} still open after ${SESSION_TIMEOUT_MS / 1000} s` : ''})`;
      lines.push(`| ${what} | ${label} | p50 | ${f(quantile(all, 0.5), 1)} ms | < 1000 ms | ${yes(quantile(all, 0.5) < 1000)} |`);
      lines.push(`| ${what} | ${label} | max | ${f(Math.max(...all), 1)} ms | < 1000 ms | ${yes(Math.max(...all) < 1000)} |`);
    }
  }
  for (const [i, s] of syncs.entries()) {
    const label = s.kind === 'pg' ? 'PostgreSQL' : 'MariaDB';
    const ofKind = syncs.filter((other) => other.kind === s.kind);
    const run = SYNC_RUNS > 1 ? `, run ${ofKind.indexOf(s) + 1}` : '';
    const what = `initial sync ${s.users} users / ${GROUPS} groups / ${s.expected.grants} memberships${run}`;
    lines.push(`| ${what} | ${label} | Rolecall: server spawn -> all logins and grants | ${s.converged ? `${f(s.fromSpawn, 2)} s` : `not converged (${s.reached.logins}/${s.expected.logins} logins, ${s.reached.grants}/${s.expected.grants} grants)`} | | |`);
    lines.push(`| ${what} | ${label} | raw SQL baseline (${s.raw.statements} statements${s.kind === 'pg' ? ', one transaction' : ''}) | ${f(s.raw.seconds, 2)} s | | |`);
    const ratio = s.fromSpawn / s.raw.seconds;
    lines.push(`| ${what} | ${label} | ratio Rolecall / raw | ${s.converged ? `${f(ratio, 1)}x` : 'n/a'} | < 2x | ${yes(s.converged && ratio < 2)} |`);
    // After the last run of a target: the median of its runs (a run that did not converge counts as infinitely slow).
    if (SYNC_RUNS > 1 && ofKind.length === SYNC_RUNS && syncs.findLastIndex((other) => other.kind === s.kind) === i) {
      const ratios = ofKind.map((r) => (r.converged ? r.fromSpawn / r.raw.seconds : Infinity));
      const median = quantile(ratios, 0.5);
      const x = (r: number, digits: number) => (Number.isFinite(r) ? `${f(r, digits)}x` : 'not converged');
      lines.push(`| initial sync, median of ${SYNC_RUNS} runs (${ratios.map((r) => x(r, 2)).join(', ')}) | ${label} | ratio Rolecall / raw | ${x(median, 1)} | < 2x | ${yes(median < 2)} |`);
    }
  }
  lines.push('');
  if (latency) {
    lines.push(`SCIM PATCH answer time at ${latency.offeredRate}/s: p50 ${f(latency.scimP50, 1)} ms, p99 ${f(latency.scimP99, 1)} ms; non-2xx or failed writes: ${latency.httpErrors}; writes issued on schedule over ${f((latency.writes - 1) / latency.offeredRate, 1)} s, last change seen ${latency.achievedSeconds.toFixed(1)} s after the first write`);
    lines.push(`mean job run time during the latency run (rolecall_job_duration_seconds): PostgreSQL ${f(latency.perTarget.get('pg')!.meanJobMs, 1)} ms, MariaDB ${f(latency.perTarget.get('mariadb')!.meanJobMs, 1)} ms`);
  }
  for (const s of syncs) {
    lines.push(`initial sync ${s.kind === 'pg' ? 'PostgreSQL' : 'MariaDB'}: seeding (outbox jobs queued) ${f(s.seedSeconds, 1)} s, not counted; converged ${f(s.fromListening, 2)} s after the server printed its listening line; mean job run time ${f(s.meanJobMs, 1)} ms (${s.users} jobs, concurrency ${CONCURRENCY}); dead-lettered jobs ${s.dead}; steps run: ${Object.entries(s.steps).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const pgDown = await postgresDown();
  const mariaDown = await mariadbDown();
  if (pgDown !== null || mariaDown !== null) {
    throw new Error(`the bench needs both servers on loopback: PostgreSQL ${pgDown ?? 'up'}, MariaDB ${mariaDown ?? 'up'} (see .ci/run)`);
  }
  const p = await createProvisioners();
  log(`run token ${p.token} (every role and account of this run carries it)`);
  let cleaning: Promise<void> | undefined;
  const onSignal = () => {
    if (cleaning) return;
    log('interrupted: cleaning up');
    cleaning = cleanupAll(p)
      .then((line) => void log(line), (error: unknown) => void log(`cleanup failed: ${String(error)}`))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let latency: LatencyResult | undefined;
  const syncs: SyncResult[] = [];
  try {
    // The table so far goes to stderr after each phase, so a run cut short still shows its figures.
    if (!args.includes('--skip-latency')) {
      latency = await latencyPhase(p);
      log(report(latency, syncs));
    }
    if (!args.includes('--skip-sync')) {
      for (const kind of ['pg', 'mariadb'] as const) {
        for (let run = 0; run < SYNC_RUNS; run++) {
          syncs.push(await syncPhase(p, kind));
          log(report(latency, syncs));
        }
      }
    }
  } catch (error) {
    // An interrupted run is cleaned up (and exits) from the signal handler.
    if (cleaning) await cleaning;
    throw error;
  } finally {
    closeAgent();
    if (cleaning) await cleaning;
    log(await cleanupAll(p));
  }
  process.stdout.write(`${report(latency, syncs)}\n`);
}

await main();
