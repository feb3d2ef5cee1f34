import { badRequest, type ScimError } from '../../domain/errors.ts';

/**
 * Lexical tokens of an RFC 7644 §3.4.2.2 filter. A `word` is any run of characters up to white
 * space, a parenthesis, a bracket or a quote: an attribute path, an operator, a keyword, a JSON
 * literal, or an unquoted value (Entra sends `userName eq alice@contoso.com`).
 */
export type FilterToken =
  | { kind: '(' | ')' | '[' | ']'; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'word'; text: string; pos: number };

export function filterError(pos: number, message: string): ScimError {
  return badRequest('invalidFilter', `Invalid filter at character ${pos + 1}: ${message}`);
}

const PUNCTUATION = new Set(['(', ')', '[', ']']);
const WORD_END = /[\s()[\]"]/;

/** Scans a JSON string starting at the quote at `start`; returns the decoded value and end index. */
function scanString(text: string, start: number): { value: string; end: number } {
  let i = start + 1;
  while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  if (i >= text.length) throw filterError(start, 'unterminated string');
  try {
    return { value: JSON.parse(text.slice(start, i + 1)) as string, end: i + 1 };
  } catch {
    throw filterError(start, `invalid string ${text.slice(start, i + 1)}`);
  }
}

/** Splits a filter into tokens; linear in its length, so it is safe after the length check. */
export function tokenizeFilter(text: string): FilterToken[] {
  const tokens: FilterToken[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i += 1;
    } else if (PUNCTUATION.has(c)) {
      tokens.push({ kind: c as '(' | ')' | '[' | ']', pos: i });
      i += 1;
    } else if (c === '"') {
      const { value, end } = scanString(text, i);
      tokens.push({ kind: 'string', value, pos: i });
      i = end;
    } else {
      const start = i;
      while (i < text.length && !WORD_END.test(text[i] as string)) i += 1;
      tokens.push({ kind: 'word', text: text.slice(start, i), pos: start });
    }
  }
  return tokens;
}
