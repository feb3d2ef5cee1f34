import type { Command } from 'commander';
import { adminEvent } from '../audit/audit-events.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { RolecallError } from '../domain/errors.ts';
import { print, withStoreOptions, withTool } from './store-options.ts';

export function registerTenant(program: Command): void {
  const tenant = program.command('tenant').description('manage tenants (each sees only its own users and groups)');

  withStoreOptions(tenant.command('create'))
    .description('create a tenant and its first token')
    .argument('<name>')
    .action((name: string, options: Record<string, string>) =>
      withTool(options, async (app) => {
        if (await app.tenants.getTenantByName(name)) throw new RolecallError('reject', `Tenant "${name}" exists`);
        const created = await app.tenants.createTenant({ name });
        const { secret, token } = await app.tokens.create(created.id, 'first', null);
        await new AuditLog(app.database).append(app.database.db, adminEvent('admin.token.created', { actor: 'cli', tenantId: created.id, details: { tokenId: token.id, name: token.name } }));
        print(`tenant ${created.name} (${created.id}) created`);
        print(`secret (shown once): ${secret}`);
      }),
    );

  withStoreOptions(tenant.command('list'))
    .description('list tenants')
    .action((options: Record<string, string>) =>
      withTool(options, async (app) => {
        print(['ID', 'NAME', 'CREATED', 'JWT ISSUER'].join('\t'));
        for (const t of await app.tenants.listTenants()) print([t.id, t.name, t.createdAt, t.jwtIssuer ?? '-'].join('\t'));
      }),
    );

  withStoreOptions(tenant.command('set-jwt'))
    .description('accept identity-provider JWTs (e.g. Entra) for a tenant')
    .argument('<name>')
    .requiredOption('--issuer <iss>', 'expected iss claim, e.g. https://sts.windows.net/<tenant-id>/')
    .requiredOption('--audience <aud>', 'expected aud claim')
    .requiredOption('--jwks <urlOrFile>', 'JWKS URL or file with the signing keys')
    .action((name: string, options: Record<string, string>) =>
      withTool(options, async (app) => {
        const found = await app.tenants.getTenantByName(name);
        if (!found) throw new RolecallError('reject', `No tenant named "${name}"`);
        await app.tenants.updateTenant(found.id, { jwtIssuer: options.issuer!, jwtAudience: options.audience!, jwks: options.jwks! });
        print(`tenant ${name} now accepts JWTs from ${options.issuer}`);
      }),
    );
}
