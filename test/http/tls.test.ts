import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startTestServer } from '../support/test-server.ts';

/** `serve --tls-cert --tls-key` answers SCIM over HTTPS (Entra requires HTTPS) with the given certificate. */
test('serves HTTPS with the configured certificate and key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rolecall-tls-'));
  try {
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
        '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    } catch (error) {
      if (process.env.CI) throw error;
      t.skip(`openssl is not available to make a test certificate: ${(error as Error).message}`);
      return;
    }
    const server = await startTestServer({ tlsCert: join(dir, 'cert.pem'), tlsKey: join(dir, 'key.pem') });
    try {
      assert.match(server.scimUrl, /^https:\/\/127\.0\.0\.1:\d+\/scim\/v2$/);
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.request(`${server.scimUrl}/ServiceProviderConfig`, { ca: readFileSync(join(dir, 'cert.pem')), headers: { authorization: `Bearer ${server.token}` } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(status, 200);
      assert.equal(JSON.parse(body).etag.supported, true);
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
