/**
 * SCIM throughput and latency with 100,000 users and 1,000 groups, on each store, against two
 * references measured in the same run: a SCIMMY server (the usual Node way) and the HTTP ceiling
 * (a bare route of the same framework returning a body of the same size). Loopback only; every
 * load loop is bounded in count and time. Usage: npm run bench:scim [-- --users N --quick]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServerConfig } from '../src/app/config.ts';
import { builtCli } from './lib/built-server.ts';
import { closedLoop, fixedRate, mergeResults, rssOf, type LoadResult, type Req } from './lib/load.ts';
import { seedDirectory } from './lib/seed-directory.ts';
import { postgresDown, scratchPostgresDatabase } from '../test/support/services.ts';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const quick = args.includes('--quick');
const USERS = arg('users', quick ? 10_000 : 100_000);
const GROUPS = arg('groups', 1_000);
const BIG = arg('big-group', quick ? 2_000 : 10_000);
const SECONDS = arg('seconds', quick ? 2 : 5);
const MAX_REQUESTS = 20_000;
const CONCURRENCY = 16;
const RATE = 500;

interface Row { name: string; req: (i: number) => Req; ok: (s: number) => boolean }

function rows(bigGroupId: string, memberIds: string[], tag: string): Row[] {
  const rand = (n: number) => Math.floor(Math.random() * n);
  let nextMember = 0;
  return [
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

interface Measured { throughput: LoadResult; atRate?: LoadResult }

const report = (label: string, name: string, m: Measured) =>
  process.stderr.write(`  [${label}] ${name}: ${m.throughput.rps.toFixed(0)} req/s, p50 ${m.throughput.p50.toFixed(2)} ms, p99 ${m.throughput.p99.toFixed(2)} ms, errors ${m.throughput.errors}${m.atRate ? `; at ${RATE}/s: ${m.atRate.requests} sent, p99 ${m.atRate.p99.toFixed(2)} ms, errors ${m.atRate.errors}` : ''}${m.throughput.errors + (m.atRate?.errors ?? 0) > 0 ? `; statuses ${JSON.stringify(m.throughput.statuses)} / ${JSON.stringify(m.atRate?.statuses ?? {})}` : ''}\n`);

const warm = (base: string, headers: Record<string, string>, row: Row) =>
  closedLoop(base, headers, row.req, { concurrency: 4, maxRequests: 200, maxSeconds: 2, ok: row.ok });
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

interface Side { base: string; rows: Row[] }

/**
 * The audit cost, measured fairly: servers with auditing on and off run side by side on two
 * copies of the same seeded store, and each row alternates between them (on, off, on, off,
 * half the time each), so drift of this machine over a run hits both alike. Each side's
 * figure merges its two halves. The fixed-rate latency is measured with auditing on.
 */
async function measurePair(headers: Record<string, string>, on: Side, off: Side, label: string): Promise<{ on: Map<string, Measured>; off: Map<string, Measured> }> {
  const results = { on: new Map<string, Measured>(), off: new Map<string, Measured>() };
  for (let r = 0; r < on.rows.length; r++) {
    const rowOn = on.rows[r]!;
    const rowOff = off.rows[r]!;
    await warm(on.base, headers, rowOn);
    await warm(off.base, headers, rowOff);
    const halves: { on: LoadResult[]; off: LoadResult[] } = { on: [], off: [] };
    for (let round = 0; round < 2; round++) {
      halves.on.push(await loadOf(on.base, headers, rowOn, SECONDS / 2));
      halves.off.push(await loadOf(off.base, headers, rowOff, SECONDS / 2));
    }
    const atRate = await fixedRate(on.base, headers, rowOn.req, { rps: RATE, seconds: Math.min(4, SECONDS), ok: rowOn.ok });
    results.on.set(rowOn.name, { throughput: mergeResults(halves.on), atRate });
    results.off.set(rowOff.name, { throughput: mergeResults(halves.off) });
    report(`${label} audit on`, rowOn.name, results.on.get(rowOn.name)!);
    report(`${label} audit off`, rowOff.name, results.off.get(rowOff.name)!);
  }
  return results;
}

async function benchRolecall(store: string, label: string): Promise<{ label: string; audit: Map<string, Measured>; noAudit: Map<string, Measured>; rss: number; bodyBytes: number }> {
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
    // The audit-off server gets an identical copy of the seeded store.
    if (pg) pgOff = await scratchPostgresDatabase('rolecall_bench_off', { copyOf: pg.url });
    else cpSync(dataDir, dataDirOff, { recursive: true });
    const headers = { authorization: `Bearer ${seeded.token}`, 'content-type': 'application/scim+json', accept: 'application/scim+json' };
    const start = async (audit: boolean) => {
      const { child, line } = await startChild([...builtCli(), 'serve', '--port', '0', '--store', audit ? storeSetting : (pgOff?.url ?? 'sqlite'), '--data-dir', audit ? dataDir : dataDirOff, '--log-level', 'silent'], { ROLECALL_AUDIT: String(audit) });
      children.push(child);
      const base = `${line.split(' ')[2]}/scim/v2`;
      process.stderr.write(`[${label}] audit ${audit ? 'on' : 'off'}: ${base}\n`);
      return { child, base };
    };
    const on = await start(true);
    const off = await start(false);
    const half = seeded.nonMemberIds.length / 2;
    const measured = await measurePair(
      headers,
      { base: on.base, rows: rows(seeded.bigGroupId, seeded.nonMemberIds.slice(0, half), `${label}-on`) },
      { base: off.base, rows: rows(seeded.bigGroupId, seeded.nonMemberIds.slice(half), `${label}-off`) },
      label,
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
  const stores: string[] = ['sqlite'];
  if ((await postgresDown()) === null) stores.push('postgres');
  else process.stderr.write('!!! PostgreSQL not reachable: the postgres store rows are skipped\n');
  const results = [];
  for (const store of stores) results.push(await benchRolecall(store, store));
  const scimmy = await benchScimmy();
  const ceiling = await benchCeiling(results[0]!.bodyBytes);

  const lines: string[] = [];
  lines.push(`SCIM benchmark: ${USERS} users, ${GROUPS} groups, PATCH into a ${BIG}-member group; ${CONCURRENCY} concurrent clients; per row and server ${SECONDS} s in two halves of <= ${SECONDS / 2} s or ${MAX_REQUESTS} requests, alternating audit on/off servers; loopback, ${new Date().toISOString().slice(0, 10)}, node ${process.version}`);
  lines.push(`HTTP ceiling (bare Hono route, ${results[0]!.bodyBytes}-byte JSON body): ${f(ceiling.rps)} req/s, p50 ${f(ceiling.p50, 2)} ms, p99 ${f(ceiling.p99, 2)} ms`);
  lines.push('');
  lines.push(`| store | request | req/s | p50 ms | p99 ms | p99 ms at ${RATE}/s (sent) | SCIMMY req/s | x SCIMMY | % of ceiling | req/s audit off | audit cost |`);
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    for (const [name, m] of r.audit) {
      const ref = scimmy.get(name)!.throughput;
      const off = r.noAudit.get(name)!.throughput;
      const cost = (1 - m.throughput.rps / off.rps) * 100;
      lines.push(`| ${r.label} | ${name} | ${f(m.throughput.rps)} | ${f(m.throughput.p50, 2)} | ${f(m.throughput.p99, 2)} | ${f(m.atRate?.p99 ?? NaN, 2)} (${m.atRate?.requests ?? 0}) | ${f(ref.rps)} | ${f(m.throughput.rps / ref.rps, 1)}x | ${f((m.throughput.rps / ceiling.rps) * 100)}% | ${f(off.rps)} | ${f(cost, 1)}% |`);
    }
  }
  lines.push('');
  for (const r of results) lines.push(`${r.label}: server resident memory after the run: ${f(r.rss / 1_048_576)} MB`);
  const errors = results.flatMap((r) => [...r.audit.values(), ...r.noAudit.values()]).reduce((n, m) => n + m.throughput.errors + (m.atRate?.errors ?? 0), 0);
  lines.push(`non-2xx answers during the Rolecall runs: ${errors}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
