import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServerConfig, type ServerConfig } from '../../src/app/config.ts';
import { startServer, type RunningServer } from '../../src/app/start-server.ts';

export interface TestServer {
  server: RunningServer;
  scimUrl: string;
  /** Bearer secret of the `default` tenant created at first start. */
  token: string;
  /** fetch against the SCIM base with the default token and SCIM content type. */
  scim(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string>; token?: string | null }): Promise<{ status: number; headers: Headers; json: any; text: string }>;
  stop(): Promise<void>;
}

/** A real server on an ephemeral loopback port over a fresh embedded store (or the given store URL). */
export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rolecall-test-'));
  const lines: string[] = [];
  const config = loadServerConfig({ port: 0, dataDir, logLevel: 'silent', ...overrides });
  const server = await startServer(config, (line) => lines.push(line));
  const secretLine = lines.findIndex((l) => l.includes('shown ONCE'));
  const token = secretLine >= 0 ? lines[secretLine + 1]!.trim() : '';
  const scim: TestServer['scim'] = async (path, init = {}) => {
    const headers: Record<string, string> = { accept: 'application/scim+json', ...init.headers };
    const bearer = init.token === undefined ? token : init.token;
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    let body: string | undefined;
    if (init.body !== undefined) {
      body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
      headers['content-type'] ??= 'application/scim+json';
    }
    const res = await fetch(server.scimUrl + path, { method: init.method ?? 'GET', headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  };
  return {
    server,
    scimUrl: server.scimUrl,
    token,
    scim,
    stop: async () => {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
