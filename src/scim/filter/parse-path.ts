import { badRequest, ScimError } from '../../domain/errors.ts';
import type { AttrPath, Filter } from './ast.ts';
import { isAttrName, parseAttrPath } from './parse-attr-path.ts';
import { parseFilter } from './parse-filter.ts';

/**
 * A PATCH operation path (RFC 7644 §3.5.2: PATH = attrPath / valuePath [subAttr]).
 * `members[value eq "U1"]` -> { attr: {attr: 'members'}, filter }; `emails[type eq "work"].value`
 * adds `sub: 'value'`; `name.familyName` -> { attr: {attr: 'name', sub: 'familyName'} }.
 */
export interface PatchPath {
  attr: AttrPath;
  filter?: Filter;
  sub?: string;
}

const invalidPath = (text: string, why: string) => badRequest('invalidPath', `Invalid path ${JSON.stringify(text)}: ${why}`);

/** Index of the `]` closing the bracket at `open`, skipping JSON strings (`[value eq "a]b"]`). */
function closingBracket(text: string, open: number): number {
  let inString = false;
  for (let i = open + 1; i < text.length; i += 1) {
    const c = text[i];
    if (inString && c === '\\') i += 1;
    else if (c === '"') inString = !inString;
    else if (!inString && c === ']') return i;
  }
  return -1;
}

function parseValueFilter(text: string, inner: string): Filter {
  try {
    return parseFilter(inner);
  } catch (error) {
    if (error instanceof ScimError) throw invalidPath(text, `bad value filter: ${error.message}`);
    throw error;
  }
}

/** Parses a PATCH path; throws ScimError 400 invalidPath. */
export function parsePatchPath(text: string): PatchPath {
  const trimmed = text.trim();
  if (trimmed === '') throw invalidPath(text, 'path is empty');
  const open = trimmed.indexOf('[');
  const attr = parseAttrPath(open < 0 ? trimmed : trimmed.slice(0, open));
  if (!attr) throw invalidPath(text, 'not an attribute path');
  if (open < 0) return { attr };
  if (attr.sub !== undefined) throw invalidPath(text, 'a value filter must follow a top-level attribute');
  const close = closingBracket(trimmed, open);
  if (close < 0) throw invalidPath(text, 'missing "]"');
  const filter = parseValueFilter(text, trimmed.slice(open + 1, close));
  const rest = trimmed.slice(close + 1);
  if (rest === '') return { attr, filter };
  const sub = rest.startsWith('.') ? rest.slice(1) : '';
  if (!isAttrName(sub)) throw invalidPath(text, `unexpected ${JSON.stringify(rest)} after the value filter`);
  return { attr, filter, sub };
}
