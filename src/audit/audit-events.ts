import type { RequestContext } from '../domain/directory-change.ts';
import type { StepResult } from '../provisioning/target.ts';
import type { AuditEventType } from './audit-event-types.ts';
import type { AuditEventInput } from './audit-log.ts';
import { digestBody, redactStatement } from './redact.ts';

/**
 * Builders for the events other layers record, so every caller records the same fields
 * and none can forget to digest a body or redact a statement.
 */

/** A SCIM request as answered. The body is only digested (secrets removed first), never stored. */
export function scimRequestEvent(
  context: RequestContext,
  outcome: { status: number; resourceIds?: string[]; body?: unknown; durationMs?: number; userId?: string; groupId?: string },
): AuditEventInput {
  return {
    type: 'scim.request',
    tenantId: context.tenantId,
    requestId: context.requestId,
    actor: context.tokenId ?? 'anonymous',
    userId: outcome.userId ?? null,
    groupId: outcome.groupId ?? null,
    payload: {
      method: context.method,
      path: context.path,
      clientAddress: context.clientAddress,
      status: outcome.status,
      resourceIds: outcome.resourceIds ?? [],
      bodyDigest: outcome.body === undefined ? null : digestBody(outcome.body),
      durationMs: outcome.durationMs,
    },
  };
}

/**
 * One applied, skipped or failed provisioning step. Statements and the error message are
 * redacted again here even though targets already redact: a missed secret would be permanent
 * in an append-only log.
 */
export function provisionStepEvent(input: {
  tenantId: string;
  target: string;
  userId: string;
  login: string;
  result: StepResult;
  /** The SCIM request that triggered the job, when known (retries and reconciles have none). */
  requestId?: string | null;
  jobId?: string;
  /** For a grant: the directory groups whose mapping grants the role (access reports read it). */
  grantedBy?: string[];
}): AuditEventInput {
  const { result } = input;
  return {
    type: 'provision.step',
    tenantId: input.tenantId,
    requestId: input.requestId ?? null,
    actor: 'system',
    userId: input.userId,
    target: input.target,
    // Keys in sorted order, so the canonical rendering needs no sort (undefined members are left out).
    payload: {
      disposition: result.disposition,
      durationMs: result.durationMs,
      error: result.message === undefined ? undefined : redactStatement(result.message),
      grantedBy: input.grantedBy,
      jobId: input.jobId,
      login: input.login,
      op: result.step.op,
      outcome: result.outcome,
      statements: result.statements.map(redactStatement),
      step: result.step,
      target: input.target,
      userId: input.userId,
    },
  };
}

/** A difference a reconcile found between directory+policy and a target (drift, unmanaged account, stale login). */
export function reconcileFindingEvent(input: {
  tenantId: string;
  target: string;
  finding: string;
  userId?: string | null;
  login?: string;
  detail?: Record<string, unknown>;
}): AuditEventInput {
  return {
    type: 'reconcile.finding',
    tenantId: input.tenantId,
    actor: 'system',
    userId: input.userId ?? null,
    target: input.target,
    payload: { finding: input.finding, target: input.target, login: input.login, userId: input.userId ?? undefined, detail: input.detail },
  };
}

export type AdminEventType = Extract<AuditEventType, `admin.${string}`>;

/** An administrative action (token created/revoked, policy reloaded, job retried); `actor` is who did it. */
export function adminEvent(
  type: AdminEventType,
  input: { actor: string; tenantId?: string | null; target?: string | null; details?: Record<string, unknown> },
): AuditEventInput {
  return { type, actor: input.actor, tenantId: input.tenantId ?? null, target: input.target ?? null, payload: input.details ?? {} };
}
