export interface Tenant {
  id: string;
  name: string;
  createdAt: string;
  /** Entra-issued JWTs are accepted when issuer and audience are set; keys come from jwks (URL or file path). */
  jwtIssuer: string | null;
  jwtAudience: string | null;
  jwks: string | null;
}

export interface ApiToken {
  id: string;
  tenantId: string;
  name: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** Tenants and bearer tokens. Tokens are stored as SHA-256 hashes; the secret is shown once. */
export interface TenantRepository {
  createTenant(input: { name: string; jwtIssuer?: string | null; jwtAudience?: string | null; jwks?: string | null }): Promise<Tenant>;
  updateTenant(id: string, patch: { jwtIssuer?: string | null; jwtAudience?: string | null; jwks?: string | null }): Promise<Tenant>;
  getTenant(id: string): Promise<Tenant | undefined>;
  getTenantByName(name: string): Promise<Tenant | undefined>;
  listTenants(): Promise<Tenant[]>;
  countTenants(): Promise<number>;
  createToken(input: { tenantId: string; name: string; hash: string; expiresAt: string | null }): Promise<ApiToken>;
  /** The token whose hash matches, if any, including expired and revoked ones (the caller decides). */
  findTokenByHash(hash: string): Promise<ApiToken | undefined>;
  listTokens(tenantId?: string): Promise<ApiToken[]>;
  revokeToken(id: string): Promise<ApiToken | undefined>;
  touchToken(id: string, at: string): Promise<void>;
}
