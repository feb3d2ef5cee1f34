/** Bound on ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits. */
const ID_CHUNK = 500;

/** Splits a list for statements that bind one parameter per item (or into parts of `size`). */
export function chunks<T>(items: readonly T[], size = ID_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
