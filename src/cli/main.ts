import { Command } from 'commander';
import { RolecallError } from '../domain/errors.ts';
import { registerAccess, registerAudit } from './audit-commands.ts';
import { registerProvisioning } from './provisioning-commands.ts';
import { registerServe } from './serve-command.ts';
import { registerTenant } from './tenant-command.ts';
import { registerToken } from './token-command.ts';

const program = new Command('rolecall')
  .description('SCIM 2.0 service provider that keeps database accounts in step with your directory')
  .showHelpAfterError();

registerServe(program);
registerToken(program);
registerTenant(program);
registerProvisioning(program);
registerAudit(program);
registerAccess(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`rolecall: ${message}\n`);
  process.exit(error instanceof RolecallError && error.disposition === 'reject' ? 2 : 1);
});

