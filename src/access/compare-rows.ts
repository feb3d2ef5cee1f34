import type { PastAccessRow } from './access-row.ts';

/** Target, then login, then role (the role-less row, whose role is null, first): a stable order for reviews and diffs. */
export function compareRows(a: PastAccessRow, b: PastAccessRow): number {
  return compare(a.target, b.target) || compare(a.login, b.login) || compare(a.role ?? '', b.role ?? '');
}

// Code-unit order, not localeCompare: the same on every machine, whatever its locale.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
