import { boundedMemo } from './bounded-memo.ts';

/** Leaves an object member out of the text: given its key and the object holding it. */
export type OmitMember = (key: string, holder: Record<string, unknown>) => boolean;

/** The JSON text of an object key. */
const keyText = boundedMemo((key) => JSON.stringify(key));

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit, no whitespace, `undefined`
 * members dropped (as JSON.stringify does). Two logically equal values always give the
 * same text, so digests and chain hashes can be recomputed by anyone from the stored data.
 * `omit` drops members on the way (secrets), without copying the value first. Every audit
 * event passes through here, so it builds one string and sorts only keys out of order.
 */
export function canonicalJson(value: unknown, omit?: OmitMember): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      // NaN/Infinity have no JSON form; silently writing null would change what was hashed.
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i], omit);
        return `${out}]`;
      }
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record);
      for (let i = 1; i < keys.length; i++) {
        if (keys[i - 1]! > keys[i]!) {
          keys.sort();
          break;
        }
      }
      let out = '{';
      for (const key of keys) {
        const member = record[key];
        if (member === undefined || typeof member === 'function' || typeof member === 'symbol' || omit?.(key, record)) continue;
        out += `${out.length === 1 ? '' : ','}${keyText(key)}:${canonicalJson(member, omit)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: unsupported ${typeof value}`);
  }
}
