import type { Command } from 'commander';
import { adminEvent } from '../audit/audit-events.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { RolecallError } from '../domain/errors.ts';
import { parseDuration } from './parse-duration.ts';
import { print, withStoreOptions, withTool } from './store-options.ts';

export function registerToken(program: Command): void {
  const token = program.command('token').description('manage tenants\' SCIM bearer tokens');

  withStoreOptions(token.command('create'))
    .description('create a token; the secret is printed once')
    .option('--tenant <name>', 'tenant name', 'default')
    .option('--name <name>', 'label for the token', 'cli')
    .option('--expires-in <duration>', 'lifetime such as 90d, 12h, 30m (default: no expiry)')
    .action((options: Record<string, string>) =>
      withTool(options, async (app) => {
        const tenant = await app.tenants.getTenantByName(options.tenant!);
        if (!tenant) throw new RolecallError('reject', `No tenant named "${options.tenant}" (see: rolecall tenant list)`);
        const expiresAt = options.expiresIn ? new Date(Date.now() + parseDuration(options.expiresIn)) : null;
        const { secret, token: created } = await app.tokens.create(tenant.id, options.name!, expiresAt);
        await new AuditLog(app.database).append(app.database.db, adminEvent('admin.token.created', {
          actor: 'cli', tenantId: tenant.id, details: { tokenId: created.id, name: created.name, expiresAt: created.expiresAt },
        }));
        print(`token id: ${created.id}`);
        print(`tenant:   ${tenant.name}`);
        print(`expires:  ${created.expiresAt ?? 'never'}`);
        print(`secret (shown once): ${secret}`);
      }),
    );

  withStoreOptions(token.command('list'))
    .description('list tokens (never their secrets)')
    .option('--tenant <name>', 'only this tenant')
    .action((options: Record<string, string>) =>
      withTool(options, async (app) => {
        const tenants = new Map((await app.tenants.listTenants()).map((t) => [t.id, t.name]));
        const only = options.tenant ? (await app.tenants.getTenantByName(options.tenant))?.id ?? '-' : undefined;
        const now = Date.now();
        print(['ID', 'TENANT', 'NAME', 'CREATED', 'EXPIRES', 'STATUS', 'LAST USED'].join('\t'));
        for (const t of await app.tenants.listTokens(only)) {
          const status = t.revokedAt ? 'revoked' : t.expiresAt && Date.parse(t.expiresAt) <= now ? 'expired' : 'active';
          print([t.id, tenants.get(t.tenantId) ?? t.tenantId, t.name, t.createdAt, t.expiresAt ?? 'never', status, t.lastUsedAt ?? '-'].join('\t'));
        }
      }),
    );

  withStoreOptions(token.command('revoke'))
    .description('revoke a token at once')
    .argument('<id>', 'token id')
    .action((id: string, options: Record<string, string>) =>
      withTool(options, async (app) => {
        const revoked = await app.tenants.revokeToken(id);
        if (!revoked) throw new RolecallError('reject', `No token with id ${id}`);
        await new AuditLog(app.database).append(app.database.db, adminEvent('admin.token.revoked', { actor: 'cli', tenantId: revoked.tenantId, details: { tokenId: id } }));
        print(`revoked ${id}`);
      }),
    );
}
