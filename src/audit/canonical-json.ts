/** Leaves an object member out of the text: given its key and the object holding it. */
export type OmitMember = (key: string, holder: Record<string, unknown>) => boolean;

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit, no whitespace, `undefined`
 * members dropped (as JSON.stringify does). Two logically equal values always give the
 * same text, so digests and chain hashes can be recomputed by anyone from the stored data.
 * `omit` drops members on the way (secrets), without copying the value first.
 */
export function canonicalJson(value: unknown, omit?: OmitMember): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      // NaN/Infinity have no JSON form; silently writing null would change what was hashed.
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item, omit)).join(',')}]`;
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      const record = value as Record<string, unknown>;
      const members: string[] = [];
      for (const key of Object.keys(record).sort()) {
        const member = record[key];
        if (member === undefined || typeof member === 'function' || typeof member === 'symbol' || omit?.(key, record)) continue;
        members.push(`${JSON.stringify(key)}:${canonicalJson(member, omit)}`);
      }
      return `{${members.join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: unsupported ${typeof value}`);
  }
}
