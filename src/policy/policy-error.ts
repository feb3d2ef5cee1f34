import { RolecallError } from '../domain/errors.ts';

/** One problem in a policy file, located by line and field path (e.g. "targets[1].kind"). */
export interface PolicyIssue {
  line: number;
  /** Empty for problems with the document as a whole (syntax errors, wrong top-level type). */
  path: string;
  message: string;
}

/**
 * An invalid policy. Fatal: the component using the policy must stop rather than provision
 * from a half-understood configuration. The message lists every issue, one per line, as
 * "file:line: path: message", and never contains a connection secret.
 */
export class PolicyError extends RolecallError {
  readonly file: string;
  readonly issues: PolicyIssue[];
  constructor(file: string, issues: PolicyIssue[]) {
    super('fatal', issues.map((issue) => formatIssue(file, issue)).join('\n'));
    this.name = 'PolicyError';
    this.file = file;
    this.issues = issues;
  }
}

function formatIssue(file: string, issue: PolicyIssue): string {
  return `${file}:${issue.line}: ${issue.path === '' ? '' : `${issue.path}: `}${issue.message}`;
}
