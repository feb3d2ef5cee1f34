import { RolecallError } from '../domain/errors.ts';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90d`, `12h`, `30m`, `45s` -> milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  if (!match) throw new RolecallError('reject', `Not a duration: "${text}" (use e.g. 90d, 12h, 30m, 45s)`);
  return Number(match[1]) * UNITS[match[2]!]!;
}
