import { createHash } from 'node:crypto';

/** Hex digits of SHA-256 kept in a shortened name: 64 bits, collisions are not a practical concern. */
const HASH_LENGTH = 16;

/**
 * Maps a login name to one a target accepts, deterministically.
 * Returns `raw` unchanged when `fits(raw)`; otherwise `<prefix>_<hash>`, where the prefix is the
 * longest start of `raw` (whole code points only, never a cut multibyte character, only code
 * points `allowed`) that keeps the result fitting, and the hash is taken over the full raw name so
 * two long names sharing a prefix still differ. Targets record the mapped name (targets.md: long
 * user names map to a deterministic short name) because the engines truncate or reject long ones.
 */
export function shortName(raw: string, fits: (name: string) => boolean, allowed: (codePoint: string) => boolean = () => true): string {
  if (fits(raw) && [...raw].every(allowed)) return raw;
  const suffix = `_${createHash('sha256').update(raw, 'utf8').digest('hex').slice(0, HASH_LENGTH)}`;
  if (!fits(suffix)) throw new Error(`a name limit this small cannot hold a hash suffix (${suffix.length} characters)`);
  let prefix = '';
  for (const codePoint of raw) {
    if (!allowed(codePoint)) continue;
    if (!fits(prefix + codePoint + suffix)) break;
    prefix += codePoint;
  }
  return prefix + suffix;
}
