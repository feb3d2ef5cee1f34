import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, ROOT } from '../e2e/e2e-world.ts';

/**
 * `npm start` runs the esbuild bundle, not the sources through tsx: the bundle must build and
 * serve. Built here from the working tree, started on a fresh embedded store: its first-start
 * token works, a user is created and found by filter, and the process exits cleanly on SIGTERM
 * (the store's checkpoint thread, started from the bundle, is joined on close).
 */
test('the bundle that npm start runs builds, serves SCIM on the embedded store and stops cleanly', { timeout: 120_000 }, async () => {
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const dataDir = mkdtempSync(join(tmpdir(), 'rolecall-bundle-'));
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'rolecall.mjs'), 'serve', '--port', '0', '--data-dir', dataDir], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const { scimUrl, token } = await eventually('bundle server start', () => {
      const found = /SCIM base URL[^:]*: (\S+)/.exec(out)?.[1];
      const secret = /shown ONCE[^\n]*\n\s*(rcs_\S+)\n/.exec(out)?.[1];
      assert.ok(found && secret, out);
      return { scimUrl: found, token: secret };
    }, 30_000);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };
    const created = await fetch(`${scimUrl}/Users`, {
      method: 'POST', headers,
      body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'bundled@example.com', active: true }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const id = ((await created.json()) as { id: string }).id;
    const found = await fetch(`${scimUrl}/Users?filter=${encodeURIComponent('userName eq "bundled@example.com"')}`, { headers });
    assert.equal(found.status, 200);
    const list = (await found.json()) as { totalResults: number; Resources: { id: string }[] };
    assert.equal(list.totalResults, 1);
    assert.equal(list.Resources[0]!.id, id);
    assert.equal((await fetch(`${scimUrl.replace(/\/scim\/v2$/, '')}/readyz`)).status, 200);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});
