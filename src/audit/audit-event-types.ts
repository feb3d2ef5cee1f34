/**
 * Every audit event type. Append new types at the end only: a type's position is its bit in
 * the stored block summaries (audit-blocks.ts).
 */
export const AUDIT_EVENT_TYPES = [
  'scim.request',
  'directory.change',
  'provision.step',
  'reconcile.finding',
  'admin.token.created',
  'admin.token.revoked',
  'admin.policy.reloaded',
  'admin.job.retried',
  // Written by prune(): attests the new checkpoint inside the chain itself.
  'audit.pruned',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];
