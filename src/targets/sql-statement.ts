/**
 * One statement as a target sends it: text with identifiers already quoted by the target's proven
 * quoting function, and values bound separately (architecture.md: no string-built SQL from data).
 */
export interface SqlStatement {
  text: string;
  values: unknown[];
}

export const sql = (text: string, values: unknown[] = []): SqlStatement => ({ text, values });

/** How a statement appears in dry-run plans and step results: its text, then its bound values. */
export function renderStatement(statement: SqlStatement): string {
  return statement.values.length === 0 ? statement.text : `${statement.text} -- params: ${JSON.stringify(statement.values)}`;
}
