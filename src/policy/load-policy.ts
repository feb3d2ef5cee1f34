import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import type { GroupSelector, Policy, PolicyConnection, PolicyMapping, PolicyTarget } from './policy.ts';
import { PolicyError, type PolicyIssue } from './policy-error.ts';
import { policySchema, type PolicyInput } from './policy-schema.ts';
import { ConnectionProblem, resolveConnection } from './resolve-connection.ts';
import { formatPath, sourceLine, type FieldPath } from './source-line.ts';

export { PolicyError, type PolicyIssue } from './policy-error.ts';

/** Reads, validates and resolves a policy file. Throws PolicyError (fatal) when it is invalid. */
export async function loadPolicy(file: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new PolicyError(file, [{ line: 1, path: '', message: `cannot read the policy file (${code})` }]);
  }
  return parsePolicy(text, file);
}

/**
 * Validates policy text (YAML, or JSON since JSON is YAML) and resolves its connection secrets
 * from `env` and secret files. `file` names the source in error messages and anchors relative
 * `urlFile` paths.
 */
export function parsePolicy(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new PolicyError(file, doc.errors.map((error) => ({ line: lines.linePos(error.pos[0]).line, path: '', message: `invalid YAML: ${error.message}` })));
  }
  const parsed = policySchema.safeParse(toPlainData(doc, file));
  if (!parsed.success) throw located(file, doc, lines, schemaProblems(parsed.error));
  return resolvePolicy(parsed.data, file, env, doc, lines);
}

/** toJS throws on alias bombs ("billion laughs", more than 100 alias expansions): still a policy error. */
function toPlainData(doc: Document, file: string): unknown {
  try {
    return doc.toJS();
  } catch (error) {
    throw new PolicyError(file, [{ line: 1, path: '', message: `invalid YAML: ${error instanceof Error ? error.message : String(error)}` }]);
  }
}

interface Problem {
  path: FieldPath;
  message: string;
}

function located(file: string, doc: Document, lines: LineCounter, problems: Problem[]): PolicyError {
  const issues: PolicyIssue[] = problems.map((problem) => ({
    line: sourceLine(doc, lines, problem.path),
    path: formatPath(problem.path),
    message: problem.message,
  }));
  return new PolicyError(file, issues.sort((a, b) => a.line - b.line));
}

/** Zod issues reworded for people editing YAML; values are never echoed except enum mismatches (never secret). */
function schemaProblems(error: z.ZodError): Problem[] {
  return error.issues.flatMap((issue): Problem[] => {
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown key' }));
      case 'invalid_enum_value':
        return [{ path: issue.path, message: `expected one of ${issue.options.join(', ')} (got ${JSON.stringify(issue.received)})` }];
      case 'invalid_type':
        return [{ path: issue.path, message: issue.received === 'undefined' ? 'required' : `expected ${issue.expected}, got ${issue.received}` }];
      case 'invalid_literal':
        return [{ path: issue.path, message: issue.received === undefined ? 'required' : `expected ${JSON.stringify(issue.expected)}` }];
      default:
        return [{ path: issue.path, message: issue.message }];
    }
  });
}

function resolvePolicy(input: PolicyInput, file: string, env: NodeJS.ProcessEnv, doc: Document, lines: LineCounter): Policy {
  const connections = input.targets.map((target) => resolveConnection(target.connection, dirname(file), env));
  const problems = connections.flatMap((connection, index): Problem[] =>
    connection instanceof ConnectionProblem ? [{ path: ['targets', index, 'connection', connection.field], message: connection.message }] : [],
  );
  if (problems.length > 0) throw located(file, doc, lines, problems);
  const targets = input.targets.map((target, index) => toTarget(target, connections[index] as PolicyConnection));
  return { version: 1, targets, mappings: input.mappings.map(toMapping) };
}

function toTarget(target: PolicyInput['targets'][number], connection: PolicyConnection): PolicyTarget {
  return {
    name: target.name,
    kind: target.kind,
    ...(target.kind === 'mysql' ? { flavor: target.flavor ?? 'mariadb' } : {}),
    connection,
    offboarding: target.offboarding,
    login: target.login,
    tenant: target.tenant,
    concurrency: target.concurrency,
    ...(target.markerRole === undefined ? {} : { markerRole: target.markerRole }),
    ...(target.graveyardRole === undefined ? {} : { graveyardRole: target.graveyardRole }),
  };
}

function toMapping(mapping: PolicyInput['mappings'][number]): PolicyMapping {
  return { group: selectorOf(mapping), grants: mapping.grants };
}

function selectorOf(mapping: PolicyInput['mappings'][number]): GroupSelector {
  if (mapping.groupExternalId !== undefined) return { by: 'externalId', value: mapping.groupExternalId };
  if (mapping.groupId !== undefined) return { by: 'id', value: mapping.groupId };
  return { by: 'displayName', value: mapping.group ?? '' };
}
