import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { PolicyConnection } from './policy.ts';

/** A connection as written: exactly one of the three (the schema guarantees it). */
export interface ConnectionInput {
  url?: string | undefined;
  urlEnv?: string | undefined;
  urlFile?: string | undefined;
}

/** A connection that could not be resolved; `field` is the connection key at fault. */
export class ConnectionProblem {
  constructor(
    readonly field: 'url' | 'urlEnv' | 'urlFile',
    readonly message: string,
  ) {}
}

/**
 * Reads the connection URL from where the policy says it lives. Problem messages name the
 * variable or file but never echo what was read: it is a credential.
 * A relative `urlFile` is relative to the policy file's folder, not the process's cwd.
 */
export function resolveConnection(input: ConnectionInput, policyDir: string, env: NodeJS.ProcessEnv): PolicyConnection | ConnectionProblem {
  if (input.urlEnv !== undefined) return fromEnv(input.urlEnv, env);
  if (input.urlFile !== undefined) return fromFile(resolveFile(input.urlFile, policyDir));
  return { url: input.url ?? '', source: 'inline' };
}

function fromEnv(name: string, env: NodeJS.ProcessEnv): PolicyConnection | ConnectionProblem {
  const value = env[name]?.trim();
  if (value === undefined) return new ConnectionProblem('urlEnv', `environment variable ${name} is not set`);
  if (value === '') return new ConnectionProblem('urlEnv', `environment variable ${name} is empty`);
  if (!URL.canParse(value)) return new ConnectionProblem('urlEnv', `environment variable ${name} does not hold a valid URL`);
  return { url: value, source: `env ${name}` };
}

function fromFile(path: string): PolicyConnection | ConnectionProblem {
  let value: string;
  try {
    value = readFileSync(path, 'utf8').trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return new ConnectionProblem('urlFile', `cannot read ${path} (${code})`);
  }
  if (value === '') return new ConnectionProblem('urlFile', `file ${path} is empty`);
  if (!URL.canParse(value)) return new ConnectionProblem('urlFile', `file ${path} does not hold a valid URL`);
  return { url: value, source: `file ${path}` };
}

function resolveFile(path: string, policyDir: string): string {
  return isAbsolute(path) ? path : resolve(policyDir, path);
}
