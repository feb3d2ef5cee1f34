import { readFile, stat } from 'node:fs/promises';
import type { JWTVerifyGetKey } from 'jose';
import type { Tenant, TenantRepository } from '../domain/tenancy.ts';
import type { Principal } from './token-service.ts';

/**
 * Accepts identity-provider-issued JWTs (Entra's provisioning service can send one) for tenants
 * configured with an issuer, audience and JWKS (URL or file). The unverified `iss` only selects
 * the tenant; the signature, issuer, audience and lifetime are then verified against its keys.
 */
export class JwtVerifier {
  /** Per tenant; `version` is the JWKS file's mtime and size, so a rotated file is re-read. */
  private readonly keySets = new Map<string, { source: string; version: string; keys: JWTVerifyGetKey }>();

  constructor(private readonly tenants: TenantRepository) {}

  async verify(jwt: string): Promise<Principal | undefined> {
    // Loaded on the first JWT: most deployments use bearer tokens only, and jose is slow to load.
    const { decodeJwt, jwtVerify } = await import('jose');
    let issuer: string | undefined;
    try {
      issuer = decodeJwt(jwt).iss;
    } catch {
      return undefined;
    }
    if (!issuer) return undefined;
    const candidates = (await this.tenants.listTenants()).filter((t) => t.jwtIssuer === issuer && t.jwtAudience && t.jwks);
    for (const tenant of candidates) {
      try {
        const { payload } = await jwtVerify(jwt, await this.keysOf(tenant), {
          issuer,
          audience: tenant.jwtAudience!,
          clockTolerance: 60,
        });
        return { tenantId: tenant.id, tokenId: `jwt:${payload.sub ?? payload.oid ?? 'unknown'}` };
      } catch {
        continue;
      }
    }
    return undefined;
  }

  private async keysOf(tenant: Tenant): Promise<JWTVerifyGetKey> {
    const source = tenant.jwks!;
    const remote = /^https?:\/\//i.test(source);
    // A remote JWKS refreshes itself (jose refetches on an unknown kid). A file is re-read when it
    // changes, so rotating the identity provider's signing key needs no restart.
    const version = remote ? 'remote' : await stat(source).then((st) => `${st.mtimeMs}:${st.size}`);
    const cached = this.keySets.get(tenant.id);
    if (cached && cached.source === source && cached.version === version) return cached.keys;
    const { createLocalJWKSet, createRemoteJWKSet } = await import('jose');
    const keys = remote
      ? createRemoteJWKSet(new URL(source))
      : createLocalJWKSet(JSON.parse(await readFile(source, 'utf8')));
    this.keySets.set(tenant.id, { source, version, keys });
    return keys;
  }
}
