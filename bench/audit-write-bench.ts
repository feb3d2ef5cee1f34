/**
 * What auditing costs a SCIM write, without HTTP in the way: the SCIM dispatcher called in-process
 * to create users on a seeded embedded store, CPU per POST with audit off and on (the change's
 * event, which also records the request; a server adds a request event only for requests that
 * changed nothing). Each mode
 * runs on a fresh copy of the same seeded store, best and median of five rounds. Bounded: a
 * fixed number of writes per round. Usage: node --import tsx bench/audit-write-bench.ts [-- --users N --writes N]
 */
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServerConfig } from '../src/app/config.ts';
import { openRolecall } from '../src/app/open-rolecall.ts';
import { scimRequestEvent } from '../src/audit/audit-events.ts';
import { AuditBuffer } from '../src/audit/audit-buffer.ts';
import { AuditLog } from '../src/audit/audit-log.ts';
import { AuditSink } from '../src/audit/audit-sink.ts';
import type { ChangeSink } from '../src/directory/database.ts';
import type { RequestContext } from '../src/domain/directory-change.ts';
import { seedDirectory } from './lib/seed-directory.ts';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const USERS = arg('users', 100_000);
const WRITES = arg('writes', 3_000);
const ROUNDS = 5;
const CONCURRENCY = 16;

type Mode = 'off' | 'on';

async function measure(seedDir: string, mode: Mode): Promise<number[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rolecall-auditbench-'));
  cpSync(seedDir, dataDir, { recursive: true });
  const sinks: ChangeSink[] = [];
  let buffer: AuditBuffer | undefined;
  const app = await openRolecall(loadServerConfig({ store: 'sqlite', dataDir, logLevel: 'silent' }), {
    exclusive: true,
    sinks,
    onOpen: (database) => {
      if (mode === 'off') return;
      const audit = new AuditLog(database);
      buffer = new AuditBuffer(audit, database.db, { onError: (error) => { throw error; } });
      sinks.push(new AuditSink(audit, () => buffer!.sealSoon()));
    },
  });
  try {
    const tenant = (await app.tenants.getTenantByName('default'))!;
    const post = async (i: number) => {
      const body = { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `audit-bench-${i}-${randomUUID()}@example.com`, name: { givenName: 'New', familyName: String(i) }, emails: [{ value: `n${i}@example.com`, type: 'work', primary: true }], active: true };
      const context: RequestContext = { requestId: randomUUID(), tenantId: tenant.id, tokenId: 'bench', clientAddress: '127.0.0.1', method: 'POST', path: '/Users', body };
      const response = await app.dispatcher.handle({ method: 'POST', path: '/Users', query: {}, body, call: { tenantId: tenant.id, baseUrl: 'http://bench/scim/v2', context } });
      if (response.status !== 201) throw new Error(`POST answered ${response.status}`);
      // As the server does: a request that changed nothing would get an event of its own.
      if (buffer && !context.changed) buffer.add(scimRequestEvent(context, { status: response.status, body }));
    };
    const round = async (n: number) => {
      let next = 0;
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) await post(next++);
      }));
      await buffer?.flush();
    };
    await round(1_000);
    const perWrite: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const before = process.cpuUsage();
      await round(WRITES);
      const used = process.cpuUsage(before);
      perWrite.push((used.user + used.system) / 1000 / WRITES);
    }
    return perWrite.sort((a, b) => a - b);
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const seedDir = mkdtempSync(join(tmpdir(), 'rolecall-auditbench-seed-'));
try {
  process.stderr.write(`seeding ${USERS} users...\n`);
  await seedDirectory(loadServerConfig({ store: 'sqlite', dataDir: seedDir, logLevel: 'silent' }), { users: USERS, groups: 100, bigGroupMembers: 0 });
  const results = new Map<Mode, number[]>();
  for (const mode of ['off', 'on'] as const) results.set(mode, await measure(seedDir, mode));
  const off = results.get('off')![0]!;
  const lines = [`Audit cost of a SCIM POST, in-process on the embedded store (${USERS} users seeded, ${CONCURRENCY} concurrent, ${ROUNDS} rounds of ${WRITES}), CPU ms per write:`, ''];
  lines.push('| audit | best | median | vs off (best) |', '|---|---:|---:|---:|');
  for (const [mode, values] of results) lines.push(`| ${mode} | ${values[0]!.toFixed(3)} | ${values[2]!.toFixed(3)} | ${mode === 'off' ? '' : `+${(((values[0]! - off) / off) * 100).toFixed(0)}%`} |`);
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  rmSync(seedDir, { recursive: true, force: true });
}
