import { auditMigrations } from '../audit/audit-migrations.ts';
import type { MigrationSet } from '../directory/database.ts';
import { directoryMigrations } from '../directory/directory-migrations.ts';
import { jobMigrations } from '../provisioning/job-migrations.ts';

/** Every module's tables; servers and CLI tools open the store with the same schema. */
export const allMigrations: MigrationSet[] = [directoryMigrations, jobMigrations, auditMigrations];
