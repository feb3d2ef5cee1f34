import type { Policy, PolicyTarget } from '../policy/policy.ts';

/** The policy targets fed by this tenant's directory. */
export function targetsOfTenant(policy: Policy, tenantId: string): PolicyTarget[] {
  return policy.targets.filter((t) => t.tenant === tenantId);
}
