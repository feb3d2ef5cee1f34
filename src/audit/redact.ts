import { hash } from 'node:crypto';
import { boundedMemo } from './bounded-memo.ts';
import { canonicalJson, type OmitMember } from './canonical-json.ts';

/**
 * Keys whose values are secrets: `password` (any case, also URN-qualified such as
 * `urn:ietf:params:scim:schemas:core:2.0:User:password`, and `newPassword`-style names)
 * and `...secret` (client secrets). A digest of a low-entropy secret could be brute-forced,
 * so secrets are removed before digesting, not just before storing.
 */
const SECRET_KEY = /(password|secret)$/i;

/** A SCIM PATCH operation that sets a secret carries it in `value`, named by `path`. */
function isSecretPath(path: unknown): boolean {
  return typeof path === 'string' && SECRET_KEY.test(path.trim());
}

/** Whether a member name names a secret. */
const isSecretKey = boundedMemo((key) => SECRET_KEY.test(key));

/** A secret member: one named like a secret, or the `value` of a PATCH operation whose `path` names one. */
const secretMember: OmitMember = (key, holder) => isSecretKey(key) || (key === 'value' && isSecretPath(holder.path));

/**
 * Canonical JSON without secret members at any depth. Applied to every stored audit payload
 * as a last line of defence, and to request bodies before they are digested.
 */
export function secretFreeJson(value: unknown): string {
  return canonicalJson(value, secretMember);
}

/**
 * Hex SHA-256 of the canonical JSON of a request body with every secret removed (at any
 * depth, case-insensitive). The body itself is never stored; the digest lets an auditor
 * match a request against a copy the client kept. A string body is parsed first when it is
 * JSON so that secrets inside it are removed too; absent bodies digest as `null`.
 */
export function digestBody(body: unknown): string {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = body;
    }
  }
  return hash('sha256', secretFreeJson(parsed), 'hex');
}

/** A quoted SQL literal: '...' with '' or backslash escapes, optionally E'' / N'' prefixed, or $tag$...$tag$. */
const LITERAL = String.raw`(?:[EeNn]?'(?:[^'\\]|\\[\s\S]|'')*'|\$(?<tag>[A-Za-z_]\w*)?\$[\s\S]*?\$\k<tag>\$)`;

const RULES: Array<[RegExp, string]> = [
  // PostgreSQL `PASSWORD 'x'`, MSSQL `PASSWORD = N'x'`, MySQL `IDENTIFIED [WITH plugin] BY [PASSWORD] 'x'`.
  [new RegExp(String.raw`(\bPASSWORD\s*=?\s*)${LITERAL}`, 'gi'), "$1'***'"],
  [new RegExp(String.raw`(\bIDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+(?:PASSWORD\s+)?)${LITERAL}`, 'gi'), "$1'***'"],
  // URL credentials: scheme://user:secret@host.
  [/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/gi, '$1***@'],
  // Connection-string and JSON forms: Password=x; pwd=x; "password":"x".
  // The lookahead leaves quoted SQL literals to the rules above.
  [/(\b(?:password|pwd)\s*=\s*)(?!\s|[EeNn]?'|\*\*\*)(?:"[^"]*"|[^;\s]+)/gi, '$1***'],
  [/("[^"]*(?:password|secret)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi, '$1"***"'],
];

/** A word or mark at least one rule above needs in order to match. */
const MAY_HOLD_SECRET = /password|identified|pwd|secret|:\/\//i;

/**
 * Masks secrets in a statement or API call before it is recorded: `PASSWORD '...'`,
 * `IDENTIFIED BY '...'`, URL credentials, `Password=` pairs and JSON password members.
 * Also applied to error messages, which drivers sometimes build from the statement.
 */
export function redactStatement(text: string): string {
  // Most statements (GRANT, CREATE ROLE) hold none of the words every rule needs.
  if (!MAY_HOLD_SECRET.test(text)) return text;
  let out = text;
  for (const [pattern, replacement] of RULES) {
    out = out.replace(pattern, replacement);
  }
  return out;
}
