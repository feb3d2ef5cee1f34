/** Bound on ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits. */
const ID_CHUNK = 500;

/** Splits a list for statements that bind one parameter per item. */
export function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += ID_CHUNK) out.push(items.slice(i, i + ID_CHUNK));
  return out;
}
