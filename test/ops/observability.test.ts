import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { needMariadb, needPostgres } from '../support/services.ts';
import { CLI, Directory, eventually, ROOT, scimClient, World } from '../e2e/e2e-world.ts';

const PG_PASSWORD = 'Pg-Secret-in-URL-7f3a';
const USER_PASSWORD = 'User-Pw-Never-Logged-91c2';

/** Sum of a Prometheus series' samples whose labels include every given pair. */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * A real server process at debug log level with a policy whose connection URL holds a password,
 * driven through a provisioning run: /metrics and /readyz answer and move, the request id of a
 * SCIM write is in its log line and its audit events, and no token, password or connection
 * secret appears anywhere in the logs.
 */
test('observability: metrics and readiness during provisioning; logs carry request ids and no secrets', { timeout: 120_000 }, async (t) => {
  if (!(await needPostgres(t)) || !(await needMariadb(t))) return;
  const world = new World({ pgOffboarding: 'lock' });
  let out = '';
  let child: ReturnType<typeof spawn> | undefined;
  try {
    await world.setup();
    const reader = world.role('reader');
    const group = `${world.token} Observed`;
    world.writePolicy([{ group, pg: [reader] }]);
    // PostgreSQL trusts loopback here, so a password in the URL is accepted and ignored: it only has to stay secret.
    const policy = JSON.parse(readFileSync(world.policyFile, 'utf8'));
    const url = new URL(policy.targets[0].connection.url);
    url.password = PG_PASSWORD;
    policy.targets[0].connection.url = url.toString();
    writeFileSync(world.policyFile, JSON.stringify(policy));

    child = world.track(spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', world.dataDir, '--policy', world.policyFile, '--log-level', 'debug', '--admin-token', world.adminToken], {
      cwd: ROOT, env: { ...process.env, ROLECALL_RECONCILE_INTERVAL: '0' }, stdio: ['ignore', 'pipe', 'pipe'],
    }));
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    // stdout arrives in chunks (and debug log lines share it): wait for the whole token line.
    const { scimUrl, token } = await eventually('server start', () => {
      const found = /SCIM base URL[^:]*: (\S+)/.exec(out)?.[1];
      const secret = /shown ONCE[^\n]*\n\s*(rcs_\S+)\n/.exec(out)?.[1];
      assert.ok(found && secret, out);
      return { scimUrl: found, token: secret };
    }, 30_000);
    const base = scimUrl.replace(/\/scim\/v2$/, '');
    const metrics = async () => (await fetch(`${base}/metrics`)).text();

    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const before = await metrics();
    assert.equal(sample(before, 'rolecall_provision_steps_total', { target: 'pg', op: 'grant', outcome: 'applied' }), 0);

    const dir = new Directory(scimClient(scimUrl, token));
    const groupId = await dir.createGroup(group);
    const created = await fetch(`${scimUrl}/Users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json', 'x-request-id': 'obs-create-1' },
      body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'observed@contoso.com', password: USER_PASSWORD }),
    });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('x-request-id'), 'obs-create-1');
    const userId = ((await created.json()) as { id: string }).id;
    await dir.addMembers(groupId, [userId]);
    assert.equal((await fetch(`${scimUrl}/Users`, { headers: { authorization: 'Bearer rcs_not-a-real-token-secret' } })).status, 401);

    const login = world.pgLogin('observed@contoso.com');
    await eventually('login provisioned', async () => assert.deepEqual((await world.pgAccount(login)).roles, [reader]));
    const after = await eventually('metrics moved', async () => {
      const text = await metrics();
      assert.ok(sample(text, 'rolecall_provision_steps_total', { target: 'pg', op: 'grant', outcome: 'applied' }) >= 1, 'grant step counted');
      assert.ok(sample(text, 'rolecall_provision_steps_total', { target: 'pg', op: 'createLogin', outcome: 'applied' }) >= 1, 'createLogin step counted');
      assert.ok(sample(text, 'rolecall_job_duration_seconds_count', { target: 'pg' }) >= 1, 'job duration observed');
      return text;
    });
    assert.ok(sample(after, 'rolecall_http_requests_total', { method: 'POST', route: '/Users', status: '201' }) >= 1);
    assert.ok(sample(after, 'rolecall_http_requests_total', { route: '/Users', status: '401' }) >= 1);
    assert.ok(sample(after, 'rolecall_http_request_duration_seconds_count', { method: 'PATCH', route: '/Groups/{id}' }) >= 1);
    assert.equal(sample(after, 'rolecall_jobs', { target: 'pg', state: 'dead' }), 0);
    assert.match(after, /# TYPE rolecall_jobs gauge/);

    // Deactivation: the time-to-revoke histogram records it.
    await dir.setActive(userId, false);
    await eventually('time to revoke observed', async () => assert.ok(sample(await metrics(), 'rolecall_time_to_revoke_seconds_count', { target: 'pg' }) >= 1));
    assert.equal((await fetch(`${base}/readyz`)).status, 200);

    // The write's request id is in its log line and in its audit events.
    const logLine = out.split('\n').find((l) => l.includes('"requestId":"obs-create-1"'));
    assert.ok(logLine, 'the SCIM write is logged with its request id');
    const audit = await fetch(`${base}/admin/audit?limit=1000`, { headers: { authorization: `Bearer ${world.adminToken}` } });
    const events = (await audit.json()) as { requestId: string | null; type: string; payload: { request?: { status?: number } } }[];
    // One event for the write: its change, which records the request and the status it was answered with.
    const ofWrite = events.filter((e) => e.requestId === 'obs-create-1');
    assert.deepEqual(ofWrite.map((e) => [e.type, e.payload.request?.status]), [['directory.change', 201]]);

    // The first-start banner shows the default token once, by design; no log line ever does.
    assert.equal(out.split(token).length - 1, 1, 'the default token is printed once, in the first-start banner only');
    for (const secret of [USER_PASSWORD, PG_PASSWORD, world.adminToken, 'rcs_not-a-real-token-secret']) {
      assert.equal(out.includes(secret), false, `a secret appeared in the logs: ${secret.slice(0, 6)}...`);
    }
    assert.ok(out.split('\n').filter((l) => l.startsWith('{')).length >= 5, 'JSON log lines were written');
  } finally {
    child?.kill('SIGKILL');
    await world.cleanup();
  }
});
