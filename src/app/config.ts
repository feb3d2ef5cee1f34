import { z } from 'zod';
import { RolecallError } from '../domain/errors.ts';

/** "false", "0", "off", "no" are false: z.coerce.boolean() would read "false" as true. */
const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'on', 'off', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'on' || v === 'yes');

/** Server settings: flags win over environment variables, which win over defaults. */
export const serverConfigSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  /** `sqlite` (embedded, default) or a postgres:// URL. */
  store: z.string().min(1).default('sqlite'),
  dataDir: z.string().min(1).default('./data'),
  tlsCert: z.string().optional(),
  tlsKey: z.string().optional(),
  /** Public base URL (scheme://host[:port]) used in meta.location behind a proxy. */
  publicUrl: z.string().url().optional(),
  policy: z.string().optional(),
  /** Admin API bearer token (distinct from tenants' SCIM tokens); admin API is off without it. */
  adminToken: z.string().min(16).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  maxBodyBytes: z.coerce.number().int().min(1024).default(1_048_576),
  bulkMaxOperations: z.coerce.number().int().min(1).default(1000),
  pageDefault: z.coerce.number().int().min(1).default(100),
  pageMax: z.coerce.number().int().min(1).default(1000),
  /** Seconds between full reconciles; 0 turns the schedule off. */
  reconcileInterval: z.coerce.number().int().min(0).default(300),
  /** Audit events for every request and change; off only for measuring its cost. */
  audit: flag.default(true),
  /** Days of audit events kept; 0 keeps everything. */
  auditRetentionDays: z.coerce.number().int().min(0).default(0),
}).refine((c) => Boolean(c.tlsCert) === Boolean(c.tlsKey), { message: 'tlsCert and tlsKey must be given together' });

export type ServerConfig = z.infer<typeof serverConfigSchema>;

const ENV: Record<string, keyof ServerConfig> = {
  ROLECALL_HOST: 'host',
  ROLECALL_PORT: 'port',
  ROLECALL_STORE: 'store',
  ROLECALL_DATA_DIR: 'dataDir',
  ROLECALL_TLS_CERT: 'tlsCert',
  ROLECALL_TLS_KEY: 'tlsKey',
  ROLECALL_PUBLIC_URL: 'publicUrl',
  ROLECALL_POLICY: 'policy',
  ROLECALL_ADMIN_TOKEN: 'adminToken',
  ROLECALL_LOG_LEVEL: 'logLevel',
  ROLECALL_RECONCILE_INTERVAL: 'reconcileInterval',
  ROLECALL_AUDIT_RETENTION_DAYS: 'auditRetentionDays',
  ROLECALL_AUDIT: 'audit',
};

export function loadServerConfig(flags: Partial<Record<keyof ServerConfig, unknown>>, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const merged: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) if (env[name] !== undefined && env[name] !== '') merged[key] = env[name];
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) merged[key] = value;
  const parsed = serverConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
    throw new RolecallError('fatal', `Invalid configuration: ${detail}`);
  }
  return parsed.data;
}
