import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Per-target job counts by state, read from the queue at scrape time. */
export type JobCounts = () => Promise<{ target: string; state: string; count: number }[]>;

/** Prometheus metrics (served at /metrics); one registry per process. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'rolecall_http_requests_total', help: 'SCIM requests by route and status', labelNames: ['method', 'route', 'status'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'rolecall_http_request_duration_seconds', help: 'SCIM request latency', labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry],
  });
  readonly jobLatency = new Histogram({
    name: 'rolecall_job_duration_seconds', help: 'Provisioning job run time', labelNames: ['target', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  readonly steps = new Counter({ name: 'rolecall_provision_steps_total', help: 'Provisioning steps by target, operation and outcome', labelNames: ['target', 'op', 'outcome'], registers: [this.registry] });
  readonly driftFound = new Counter({ name: 'rolecall_drift_found_total', help: 'Drift findings by target and kind', labelNames: ['target', 'finding'], registers: [this.registry] });
  readonly driftRepaired = new Counter({ name: 'rolecall_drift_repaired_total', help: 'Drift findings repaired by target and kind', labelNames: ['target', 'finding'], registers: [this.registry] });
  readonly timeToRevoke = new Histogram({
    name: 'rolecall_time_to_revoke_seconds', help: 'From the SCIM deactivation or deletion to the last offboarding step on a target', labelNames: ['target'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300], registers: [this.registry],
  });

  constructor(jobCounts?: JobCounts) {
    collectDefaultMetrics({ register: this.registry, prefix: 'rolecall_' });
    if (jobCounts) {
      new Gauge({
        name: 'rolecall_jobs', help: 'Jobs by target and state (queued, running, failed = queued after a failure, dead)', labelNames: ['target', 'state'], registers: [this.registry],
        async collect() {
          this.reset();
          for (const row of await jobCounts()) this.set({ target: row.target, state: row.state }, row.count);
        },
      });
    }
  }

  /** Routes by resource type, never by id, so label cardinality stays bounded. */
  observeRequest(method: string, path: string, status: number, ms: number): void {
    const route = routeOf(path);
    this.requests.inc({ method, route, status: String(status) });
    this.latency.observe({ method, route }, ms / 1000);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function routeOf(path: string): string {
  const [head, id] = path.split('/').filter(Boolean);
  if (!head) return '/';
  const known = ['Users', 'Groups', 'Bulk', '.search', 'Me', 'ServiceProviderConfig', 'ResourceTypes', 'Schemas'];
  const name = known.find((k) => k.toLowerCase() === head.toLowerCase()) ?? 'other';
  if (id === undefined) return `/${name}`;
  return id === '.search' ? `/${name}/.search` : `/${name}/{id}`;
}
