import { RolecallError } from '../domain/errors.ts';
import type { PolicyTarget } from '../policy/policy.ts';
import type { Target } from '../provisioning/target.ts';
import { MysqlTarget } from '../targets/mysql/mysql-target.ts';
import { PostgresTarget } from '../targets/postgres/postgres-target.ts';

/** Target kinds this build can provision; the policy schema names more (see README support table). */
export const IMPLEMENTED_KINDS = ['postgres', 'mysql'] as const;

export function createTarget(config: PolicyTarget): Target {
  switch (config.kind) {
    case 'postgres':
      return new PostgresTarget(config.name, {
        url: config.connection.url, offboarding: config.offboarding,
        ...(config.markerRole === undefined ? {} : { markerRole: config.markerRole }),
        ...(config.graveyardRole === undefined ? {} : { graveyardRole: config.graveyardRole }),
      });
    case 'mysql':
      return new MysqlTarget(config.name, {
        url: config.connection.url, flavor: config.flavor ?? 'mariadb', offboarding: config.offboarding,
        ...(config.markerRole === undefined ? {} : { markerRole: config.markerRole }),
      });
    default:
      throw new RolecallError('fatal', `target "${config.name}": kind ${config.kind} is not implemented in this version (implemented: ${IMPLEMENTED_KINDS.join(', ')})`);
  }
}
