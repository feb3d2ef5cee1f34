import { z } from 'zod';
import { LOGIN_PLACEHOLDERS, unknownPlaceholders } from '../provisioning/login-template.ts';
import { MYSQL_FLAVORS, OFFBOARDING_MODES, TARGET_KINDS } from './policy.ts';

/**
 * The policy file as written (YAML or JSON). Strict: an unknown key is an error, because a
 * misspelt option ("offbording: drop") silently ignored would leave access in place.
 * Cross-references are checked here too so that every error carries a field path (and so a line).
 */

const CONNECTION_SOURCES = ['url', 'urlEnv', 'urlFile'] as const;

const connectionSchema = z
  .object({
    url: z.string().min(1).refine(URL.canParse, 'not a valid URL').optional(),
    urlEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
    urlFile: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((connection, ctx) => {
    const given = CONNECTION_SOURCES.filter((key) => connection[key] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: given.length === 0 ? `expected one of ${CONNECTION_SOURCES.join(', ')}` : `expected only one of ${given.join(', ')}`,
      });
    }
  });

const loginTemplateSchema = z
  .string()
  .min(1)
  .superRefine((template, ctx) => {
    for (const name of unknownPlaceholders(template)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `unknown placeholder {${name}}; expected ${LOGIN_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
      });
    }
  });

const targetSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9_-]+$/, 'expected lowercase letters, digits, "_" or "-"'),
    kind: z.enum(TARGET_KINDS),
    flavor: z.enum(MYSQL_FLAVORS).optional(),
    connection: connectionSchema,
    offboarding: z.enum(OFFBOARDING_MODES).default('lock'),
    login: loginTemplateSchema.default('{userName}'),
    tenant: z.string().min(1).default('default'),
    concurrency: z.number().int().min(1).max(64).default(4),
    /** The role that marks what Rolecall manages on this target (default rolecall_managed). */
    markerRole: z.string().min(1).optional(),
    /** PostgreSQL: the NOLOGIN role that receives objects of dropped logins (default rolecall_graveyard). */
    graveyardRole: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((target, ctx) => {
    if (target.flavor !== undefined && target.kind !== 'mysql') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['flavor'], message: 'only allowed when kind is mysql' });
    }
    if (target.graveyardRole !== undefined && target.kind !== 'postgres' && target.kind !== 'azure-postgres') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['graveyardRole'], message: 'only allowed when kind is postgres or azure-postgres' });
    }
  });

const GROUP_SELECTORS = ['group', 'groupExternalId', 'groupId'] as const;

const mappingSchema = z
  .object({
    group: z.string().min(1).optional(),
    groupExternalId: z.string().min(1).optional(),
    groupId: z.string().min(1).optional(),
    grants: z
      .record(z.array(z.string().min(1)).min(1, 'expected at least one role'))
      .refine((grants) => Object.keys(grants).length > 0, 'expected at least one target'),
  })
  .strict()
  .superRefine((mapping, ctx) => {
    const given = GROUP_SELECTORS.filter((key) => mapping[key] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: given.length === 0 ? `expected one of ${GROUP_SELECTORS.join(', ')}` : `expected only one of ${given.join(', ')}`,
      });
    }
  });

export const policySchema = z
  .object({
    version: z.literal(1),
    targets: z.array(targetSchema),
    mappings: z.array(mappingSchema).default([]),
  })
  .strict()
  .superRefine((policy, ctx) => {
    checkUniqueTargetNames(policy.targets, ctx);
    checkGrantTargets(policy, ctx);
  });

export type PolicyInput = z.output<typeof policySchema>;

function checkUniqueTargetNames(targets: Array<{ name: string }>, ctx: z.RefinementCtx): void {
  const first = new Map<string, number>();
  targets.forEach((target, index) => {
    const earlier = first.get(target.name);
    if (earlier === undefined) first.set(target.name, index);
    else ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['targets', index, 'name'], message: `duplicate target name "${target.name}" (first at targets[${earlier}])` });
  });
}

function checkGrantTargets(policy: { targets: Array<{ name: string }>; mappings: Array<{ grants: Record<string, string[]> }> }, ctx: z.RefinementCtx): void {
  const names = policy.targets.map((target) => target.name);
  policy.mappings.forEach((mapping, index) => {
    for (const targetName of Object.keys(mapping.grants)) {
      if (!names.includes(targetName)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['mappings', index, 'grants', targetName],
          message: `unknown target "${targetName}"; expected one of ${names.join(', ') || '(no targets defined)'}`,
        });
      }
    }
  });
}
