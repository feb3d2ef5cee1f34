import http from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';

export interface Req {
  method: string;
  path: string;
  body?: string;
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  statuses: Record<number, number>;
  /** Every latency, sorted (ms): results of several runs merge exactly. */
  latencies: number[];
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * Closes the keep-alive sockets left idle by the previous load: the bench alternates between
 * servers, and a socket idle past the server's keep-alive timeout may be closed by the server
 * just as it is reused (a failed request that no server ever saw).
 */
function dropIdleSockets(): void {
  for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
}

/** A request still unanswered after this long counts as failed (status 0), so no loop waits without bound. */
const REQUEST_TIMEOUT_MS = 10_000;

function send(base: URL, headers: Record<string, string>, req: Req): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      { agent, host: base.hostname, port: base.port, method: req.method, path: base.pathname + req.path, headers: req.body ? { ...headers, 'content-length': Buffer.byteLength(req.body) } : headers },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.setTimeout(REQUEST_TIMEOUT_MS, () => r.destroy(new Error('timeout')));
    if (req.body) r.write(req.body);
    r.end();
  });
}

function summarise(latencies: number[], errors: number, seconds: number, statuses: Record<number, number>): LoadResult {
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { requests: latencies.length, errors, seconds, rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), statuses, latencies };
}

/** One result of several runs of the same load: requests over their summed time, percentiles of all latencies. */
export function mergeResults(results: LoadResult[]): LoadResult {
  const statuses: Record<number, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.statuses)) statuses[Number(k)] = (statuses[Number(k)] ?? 0) + v;
  return summarise(results.flatMap((r) => r.latencies), results.reduce((n, r) => n + r.errors, 0), results.reduce((n, r) => n + r.seconds, 0), statuses);
}

/** Closed loop: `concurrency` workers send back to back; bounded by count AND time. */
export async function closedLoop(baseUrl: string, headers: Record<string, string>, next: (i: number) => Req, opts: { concurrency: number; maxRequests: number; maxSeconds: number; ok: (status: number) => boolean }): Promise<LoadResult> {
  const base = new URL(baseUrl);
  dropIdleSockets();
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let errors = 0;
  let issued = 0;
  const started = performance.now();
  const deadline = started + opts.maxSeconds * 1000;
  const worker = async () => {
    while (issued < opts.maxRequests && performance.now() < deadline) {
      const req = next(issued++);
      const t0 = performance.now();
      const status = await send(base, headers, req).catch(() => 0);
      latencies.push(performance.now() - t0);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (!opts.ok(status)) errors += 1;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return summarise(latencies, errors, (performance.now() - started) / 1000, statuses);
}

/** Open loop at a fixed rate (latency under a given load, not throughput); bounded by count and time. */
export async function fixedRate(baseUrl: string, headers: Record<string, string>, next: (i: number) => Req, opts: { rps: number; seconds: number; ok: (status: number) => boolean }): Promise<LoadResult> {
  const base = new URL(baseUrl);
  dropIdleSockets();
  const total = Math.round(opts.rps * opts.seconds);
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let errors = 0;
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  const stopIssuing = started + (opts.seconds + 2) * 1000;
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / opts.rps;
    // A server far behind the schedule gets no more requests: the rest count as not sent, not as latency.
    if (performance.now() > stopIssuing) break;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const req = next(i);
    // Latency counts from the scheduled send time, so client-side lag is not hidden (coordinated omission).
    inflight.push(send(base, headers, req).catch(() => 0).then((status) => {
      latencies.push(performance.now() - due);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (!opts.ok(status)) errors += 1;
    }));
  }
  await Promise.all(inflight);
  return summarise(latencies, errors, (performance.now() - started) / 1000, statuses);
}

/** Resident memory in bytes: all of it (VmRSS) and its file-backed part (RssFile: mapped files, reclaimable by the kernel). */
export function rssOf(pid: number): { total: number; file: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kB = (field: string) => {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
      return m ? Number(m[1]) * 1024 : NaN;
    };
    return { total: kB('VmRSS'), file: kB('RssFile') };
  } catch {
    return { total: NaN, file: NaN };
  }
}

/** A process's /proc/<pid>/stat fields after the parenthesised command name; undefined once it is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  } catch {
    return undefined;
  }
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat times (100 on every mainstream build). */
const CLOCK_TICKS_PER_SECOND = 100;
const ticksMs = (...ticks: (string | undefined)[]) => ticks.reduce((n, t) => n + Number(t), 0) * (1000 / CLOCK_TICKS_PER_SECOND);

/** CPU time (user + system, every thread) a process has used so far, in ms; NaN once it is gone. */
export function cpuMsOf(pid: number): number {
  // utime and stime are the 12th and 13th fields after the name, in clock ticks.
  const fields = statFields(pid);
  return fields ? ticksMs(fields[11], fields[12]) : NaN;
}

/**
 * CPU time used so far by every process of the given command name (e.g. all of PostgreSQL's
 * processes), and by their children that have ended (cutime and cstime): a backend that exits,
 * as a pooled connection left idle does, moves its CPU into the postmaster's, so the sum does
 * not drop. In ms.
 */
export function cpuMsOfCommand(command: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== command) continue;
    } catch {
      continue;
    }
    const fields = statFields(Number(entry));
    if (fields) total += ticksMs(fields[11], fields[12], fields[13], fields[14]);
  }
  return total;
}
