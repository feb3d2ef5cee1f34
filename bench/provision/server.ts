/**
 * The Rolecall server as a child process (as an operator runs it), and a small keep-alive HTTP
 * client for its SCIM and metrics endpoints. Loopback only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { builtCli } from '../lib/built-server.ts';

export interface ChildServer {
  child: ChildProcess;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  /** The first-start token when the store was empty, else undefined. */
  token: string | undefined;
  /** performance.now() (this process) when the child was spawned. */
  spawnedAt: number;
  /** performance.now() when the listening line arrived. */
  listeningAt: number;
}

export interface ServeOptions {
  dataDir: string;
  policy: string;
  /** Wait for the first-start token line too (empty store). */
  expectToken: boolean;
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

/** --cpu-prof DIR on the bench: the server children write V8 CPU profiles there (for analysis). */
let cpuProfileDir: string | undefined;
export function profileServersInto(dir: string | undefined): void {
  cpuProfileDir = dir;
}

export function startServer(options: ServeOptions): Promise<ChildServer> {
  const command = [...(cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : []), ...builtCli(), 'serve', '--port', '0', '--data-dir', options.dataDir, '--policy', options.policy, '--log-level', 'silent'];
  return new Promise((resolve, reject) => {
    const spawnedAt = performance.now();
    const child = spawn(process.execPath, command, {
      env: {
        ...process.env,
        ROLECALL_RECONCILE_INTERVAL: '0',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let listeningAt = 0;
    let url: string | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${options.startTimeoutMs ?? 60_000} ms: ${out}`));
    }, options.startTimeoutMs ?? 60_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`server exited ${code} before it was ready: ${out}`));
    };
    child.once('exit', onExit);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!url) {
        const m = /listening on (\S+)/.exec(out);
        if (m) {
          url = m[1]!;
          listeningAt = performance.now();
        }
      }
      const token = /^\s+(rcs_\S+)\s*$/m.exec(out)?.[1];
      if (url && (!options.expectToken || token)) {
        clearTimeout(timer);
        child.off('exit', onExit);
        // Keep draining stdout so the child never blocks on a full pipe.
        child.stdout!.removeAllListeners('data');
        child.stdout!.resume();
        resolve({ child, url, token, spawnedAt, listeningAt });
      }
    });
  });
}

export async function stopServer(server: ChildServer): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export interface Answer {
  status: number;
  body: string;
  /** performance.now() when the whole response had arrived. */
  at: number;
}

export function request(baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: unknown, timeoutMs = 30_000): Promise<Answer> {
  const base = new URL(baseUrl);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        agent, host: base.hostname, port: base.port, method, path: base.pathname.replace(/\/$/, '') + path, timeout: timeoutMs,
        headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/scim+json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), at: performance.now() }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    r.on('error', reject);
    if (payload !== undefined) r.write(payload);
    r.end();
  });
}

export function closeAgent(): void {
  agent.destroy();
}

/** Job counts by target and state from /metrics (rolecall_jobs gauge), and mean job time by target. */
export async function jobMetrics(url: string): Promise<{ jobs: Map<string, Record<string, number>>; meanJobMs: Map<string, number>; jobsDone: Map<string, number>; steps: Map<string, Record<string, number>> }> {
  const answer = await request(url, 'GET', '/metrics', {});
  const jobs = new Map<string, Record<string, number>>();
  const sums = new Map<string, number>();
  const counts = new Map<string, number>();
  const steps = new Map<string, Record<string, number>>();
  for (const line of answer.body.split('\n')) {
    const step = /^rolecall_provision_steps_total\{target="([^"]+)",op="([^"]+)",outcome="([^"]+)"\} (\S+)/.exec(line);
    if (step) {
      const entry = steps.get(step[1]!) ?? {};
      entry[`${step[2]} ${step[3]}`] = Number(step[4]);
      steps.set(step[1]!, entry);
      continue;
    }
    let m = /^rolecall_jobs\{target="([^"]+)",state="([^"]+)"\} (\S+)/.exec(line);
    if (m) {
      const entry = jobs.get(m[1]!) ?? {};
      entry[m[2]!] = Number(m[3]);
      jobs.set(m[1]!, entry);
      continue;
    }
    m = /^rolecall_job_duration_seconds_(sum|count)\{target="([^"]+)",outcome="done"\} (\S+)/.exec(line);
    if (m) (m[1] === 'sum' ? sums : counts).set(m[2]!, Number(m[3]));
  }
  const meanJobMs = new Map<string, number>();
  for (const [target, count] of counts) meanJobMs.set(target, count > 0 ? ((sums.get(target) ?? 0) / count) * 1000 : NaN);
  return { jobs, meanJobMs, jobsDone: counts, steps };
}

/** Waits until no job of any target is queued or running (bounded). Returns false on timeout. */
export async function waitForIdleQueue(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const { jobs } = await jobMetrics(url);
    let busy = 0;
    for (const states of jobs.values()) busy += (states.queued ?? 0) + (states.running ?? 0);
    if (busy === 0) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
