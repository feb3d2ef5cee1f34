import type { AccessRow, PastAccessRow } from './access-row.ts';
import { compareRows } from './compare-rows.ts';

/** One account in an access review: what it holds, who grants it, and whether that matches the directory. */
export interface AccessReviewEntry {
  target: string;
  login: string;
  tenantId: string | null;
  userName: string | null;
  userId: string | null;
  /** Roles the login holds, sorted. */
  roles: string[];
  /** For each held role, the directory groups that grant it (empty when none does). */
  grantedBy: Record<string, string[]>;
  /** Roles the directory grants but the login does not hold. */
  missingRoles: string[];
  lastChange: string | null;
  /** null for past rows: the audit trail alone cannot say what the directory wanted then. */
  matchesDirectory: boolean | null;
  canLogin: boolean;
  /** Each distinct note, prefixed with the roles whose rows carry it. */
  notes: string[];
}

const CSV_COLUMNS = ['target', 'login', 'userName', 'userId', 'roles', 'grantedBy', 'lastChange', 'matchesDirectory', 'canLogin', 'notes'] as const;

/**
 * Folds per-role rows (accessNow or accessAt) into one entry per account, in target then login
 * order. An account is (target, login, userId): a user refused a login recorded for another
 * user has a row under that login too, and must not be merged into the holder's account.
 */
export function accessReview(rows: readonly (AccessRow | PastAccessRow)[]): AccessReviewEntry[] {
  const accounts = new Map<string, (AccessRow | PastAccessRow)[]>();
  for (const row of [...rows].sort(compareRows)) {
    const key = `${row.target}\u0000${row.login}\u0000${row.userId ?? ''}`;
    accounts.set(key, [...(accounts.get(key) ?? []), row]);
  }
  return [...accounts.values()].map(entryOf);
}

/**
 * The review as RFC 4180 CSV: a header, CRLF line ends, fields quoted when they hold a comma,
 * quote, CR or LF (or edge spaces) with inner quotes doubled. Lists inside a field are joined
 * with ';'; grantedBy reads "role: group, group; role: (none)". Values are written exactly as
 * stored (no spreadsheet-formula escaping) because this is evidence; open it as text.
 */
export function accessReviewCsv(rows: readonly (AccessRow | PastAccessRow)[]): string {
  const lines = accessReview(rows).map((entry) =>
    [
      entry.target,
      entry.login,
      entry.userName,
      entry.userId,
      entry.roles.join(';'),
      Object.entries(entry.grantedBy)
        .map(([role, groups]) => `${role}: ${groups.length === 0 ? '(none)' : groups.join(', ')}`)
        .join('; '),
      entry.lastChange,
      entry.matchesDirectory,
      entry.canLogin,
      entry.notes.join('; '),
    ]
      .map(csvField)
      .join(','),
  );
  return [CSV_COLUMNS.join(','), ...lines].map((line) => `${line}\r\n`).join('');
}

/** The review as a JSON array of AccessReviewEntry, indented for reading and diffing. */
export function accessReviewJson(rows: readonly (AccessRow | PastAccessRow)[]): string {
  return `${JSON.stringify(accessReview(rows), null, 2)}\n`;
}

function entryOf(rows: (AccessRow | PastAccessRow)[]): AccessReviewEntry {
  const first = rows[0]!;
  const held = rows.filter((row): row is (AccessRow | PastAccessRow) & { role: string } => row.role !== null && isHeld(row));
  const notes = new Map<string, string[]>();
  for (const row of rows) {
    if (!('note' in row) || row.note === undefined) continue;
    notes.set(row.note, [...(notes.get(row.note) ?? []), ...(row.role === null ? [] : [row.role])]);
  }
  const verdicts = rows.map((row) => ('matchesDirectory' in row ? row.matchesDirectory : null));
  return {
    target: first.target,
    login: first.login,
    tenantId: first.tenantId ?? null,
    userName: first.userName ?? null,
    userId: first.userId ?? null,
    roles: held.map((row) => row.role),
    grantedBy: Object.fromEntries(held.map((row) => [row.role, row.grantedBy])),
    missingRoles: rows.filter((row) => row.role !== null && !isHeld(row)).map((row) => row.role!),
    lastChange: first.lastChange,
    matchesDirectory: verdicts.includes(null) ? null : verdicts.every(Boolean),
    canLogin: first.canLogin,
    notes: [...notes].map(([note, roles]) => (roles.length === 0 ? note : `${roles.join(', ')}: ${note}`)),
  };
}

/** Past rows list only what was held; current rows say. */
function isHeld(row: AccessRow | PastAccessRow): boolean {
  return !('held' in row) || row.held;
}

/** RFC 4180 quoting, as the audit CSV export does it. */
function csvField(value: string | boolean | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
