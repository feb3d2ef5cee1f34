import { hash, randomBytes } from 'node:crypto';
import { ScimError } from '../domain/errors.ts';
import type { ApiToken, TenantRepository } from '../domain/tenancy.ts';
import type { JwtVerifier } from './jwt-verifier.ts';

export interface Principal {
  tenantId: string;
  /** Token id, or `jwt:<subject>` for an identity-provider-issued JWT. */
  tokenId: string;
}

/** Secrets carry a prefix so leaked ones are recognisable by secret scanners. */
const PREFIX = 'rcs_';

/**
 * `lastUsedAt` is recorded at most this often per token, so that auditing which tokens are still
 * in use (`rolecall token list`) costs one write per token per minute, not one per request.
 */
const TOUCH_INTERVAL_MS = 60_000;

/** One-shot crypto.hash (UTF-8 input, like createHash): cheaper for an input this small, and it runs once per request. */
export const hashToken = (secret: string): string => hash('sha256', secret, 'hex');

/**
 * Bearer tokens: random secrets shown once, stored only as SHA-256 hashes. Every request looks
 * the hash up, so an expired or revoked token is refused at once (the embedded store remembers
 * lookups only while nothing has written to it, see KyselyTenantRepository).
 */
export class TokenService {
  constructor(
    private readonly tenants: TenantRepository,
    private readonly jwt: JwtVerifier | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(tenantId: string, name: string, expiresAt: Date | null): Promise<{ secret: string; token: ApiToken }> {
    const secret = PREFIX + randomBytes(32).toString('base64url');
    const token = await this.tenants.createToken({ tenantId, name, hash: hashToken(secret), expiresAt: expiresAt?.toISOString() ?? null });
    return { secret, token };
  }

  /** Resolves an Authorization header; anything wrong is 401 with a reason that leaks nothing. */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) throw unauthorized('Missing bearer token: send "Authorization: Bearer <token>"');
    const secret = match[1]!;
    if (this.jwt && secret.split('.').length === 3 && !secret.startsWith(PREFIX)) {
      const principal = await this.jwt.verify(secret);
      if (!principal) throw unauthorized('The bearer JWT is not valid for any tenant');
      return principal;
    }
    const token = await this.tenants.findTokenByHash(hashToken(secret));
    if (!token) throw unauthorized('Unknown bearer token');
    if (token.revokedAt !== null) throw unauthorized('The bearer token has been revoked');
    const now = this.now();
    if (token.expiresAt !== null && Date.parse(token.expiresAt) <= now.getTime()) throw unauthorized('The bearer token has expired');
    if (token.lastUsedAt === null || now.getTime() - Date.parse(token.lastUsedAt) >= TOUCH_INTERVAL_MS) {
      // Bookkeeping only: a store too busy to record it must not fail the request.
      await this.tenants.touchToken(token.id, now.toISOString()).catch(() => undefined);
    }
    return { tenantId: token.tenantId, tokenId: token.id };
  }
}

const unauthorized = (detail: string) => new ScimError(401, detail);
