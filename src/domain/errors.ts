/**
 * Every error Rolecall raises says what the caller should do next.
 * - retry:    transient (network, deadlock, lock timeout); try again later
 * - conflict: state changed underneath (already exists, version mismatch); re-read and re-plan
 * - reject:   the input is wrong; surface it, never retry
 * - fatal:    misconfiguration; stop the component and alert
 * Wire formats (SCIM §3.12, admin API, CLI exit codes) are mapped in one place: src/http/error-response.ts.
 */
export type Disposition = 'retry' | 'conflict' | 'reject' | 'fatal';

export class RolecallError extends Error {
  readonly disposition: Disposition;
  constructor(disposition: Disposition, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RolecallError';
    this.disposition = disposition;
  }
}

/** RFC 7644 §3.12 scimType values. */
export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

/** A protocol error with its HTTP status and optional scimType (RFC 7644 §3.12). */
export class ScimError extends RolecallError {
  readonly status: number;
  readonly scimType: ScimType | undefined;
  constructor(status: number, detail: string, scimType?: ScimType) {
    super(status >= 500 ? 'retry' : status === 409 || status === 412 ? 'conflict' : 'reject', detail);
    this.name = 'ScimError';
    this.status = status;
    this.scimType = scimType;
  }
}

export const badRequest = (scimType: ScimType, detail: string) => new ScimError(400, detail, scimType);
export const notFound = (detail: string) => new ScimError(404, detail);
export const uniqueness = (detail: string) => new ScimError(409, detail, 'uniqueness');
