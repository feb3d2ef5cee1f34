import type { AttrPath, CompareOp, Filter, FilterValue } from './ast.ts';
import { isAttrName, parseAttrPath } from './parse-attr-path.ts';
import { filterError, tokenizeFilter, type FilterToken } from './tokenize-filter.ts';

/**
 * Bounds on a filter, checked while parsing so that hostile input is rejected with 400
 * invalidFilter before it costs memory, stack or SQL: `maxDepth` counts nested parentheses,
 * `not` and value filters; `maxNodes` counts AST nodes.
 */
export interface FilterLimits {
  maxLength: number;
  maxDepth: number;
  maxNodes: number;
}

export const DEFAULT_FILTER_LIMITS: FilterLimits = { maxLength: 10_000, maxDepth: 32, maxNodes: 200 };

const COMPARE_OPS = new Set<string>(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
/** JSON number (RFC 7159 §6), the only number syntax RFC 7644 §3.4.2.2 compValue allows. */
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** An unquoted value: JSON literal (ABNF literals are case-insensitive), number, or - leniently, for Entra - a bare string. */
function bareValue(text: string): FilterValue {
  const lower = text.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (lower === 'null') return null;
  return NUMBER.test(text) ? Number(text) : text;
}

function describe(token: FilterToken | undefined): string {
  if (!token) return 'end of filter';
  if (token.kind === 'word') return `"${token.text}"`;
  if (token.kind === 'string') return `string ${JSON.stringify(token.value)}`;
  return `"${token.kind}"`;
}

/**
 * Recursive descent over RFC 7644 §3.4.2.2 with precedence not > and > or. `and`/`or` chains are
 * parsed in loops, so only nesting (bounded by maxDepth) recurses.
 */
class FilterParser {
  private index = 0;
  private nodes = 0;

  constructor(
    private readonly tokens: FilterToken[],
    private readonly limits: FilterLimits,
    private readonly end: number,
  ) {}

  parse(): Filter {
    const filter = this.parseOr(0, false);
    const extra = this.peek();
    if (extra) throw filterError(extra.pos, `unexpected ${describe(extra)}`);
    return filter;
  }

  private peek(): FilterToken | undefined {
    return this.tokens[this.index];
  }

  private position(): number {
    return this.peek()?.pos ?? this.end;
  }

  private isKeyword(word: string): boolean {
    const token = this.peek();
    return token?.kind === 'word' && token.text.toLowerCase() === word;
  }

  /** Tells `not (...)` from an attribute that happens to be called "not" (`not eq "x"`). */
  private isOperator(token: FilterToken | undefined): boolean {
    const word = token?.kind === 'word' ? token.text.toLowerCase() : '';
    return word === 'pr' || COMPARE_OPS.has(word);
  }

  private expect(kind: ')' | ']'): void {
    const token = this.peek();
    if (token?.kind !== kind) throw filterError(this.position(), `expected "${kind}" but found ${describe(token)}`);
    this.index += 1;
  }

  private node<T extends Filter>(filter: T): T {
    this.nodes += 1;
    if (this.nodes > this.limits.maxNodes) {
      throw filterError(this.position(), `filter has more than ${this.limits.maxNodes} terms`);
    }
    return filter;
  }

  private nest(depth: number): number {
    if (depth + 1 > this.limits.maxDepth) {
      throw filterError(this.position(), `filter is nested more than ${this.limits.maxDepth} levels deep`);
    }
    return depth + 1;
  }

  private parseOr(depth: number, inValue: boolean): Filter {
    let left = this.parseAnd(depth, inValue);
    while (this.isKeyword('or')) {
      this.index += 1;
      left = this.node({ kind: 'or', left, right: this.parseAnd(depth, inValue) });
    }
    return left;
  }

  private parseAnd(depth: number, inValue: boolean): Filter {
    let left = this.parseUnary(depth, inValue);
    while (this.isKeyword('and')) {
      this.index += 1;
      left = this.node({ kind: 'and', left, right: this.parseUnary(depth, inValue) });
    }
    return left;
  }

  /** RFC grammar: `"not" "(" valFilter ")"`; `not` before a bare attribute expression is tolerated. */
  private parseUnary(depth: number, inValue: boolean): Filter {
    if (this.isKeyword('not') && !this.isOperator(this.tokens[this.index + 1])) {
      this.index += 1;
      const inner = this.parseUnary(this.nest(depth), inValue);
      return this.node({ kind: 'not', filter: inner });
    }
    if (this.peek()?.kind === '(') {
      const inner = this.nest(depth);
      this.index += 1;
      const filter = this.parseOr(inner, inValue);
      this.expect(')');
      return filter;
    }
    return this.parseAttrExp(depth, inValue);
  }

  private parseAttrExp(depth: number, inValue: boolean): Filter {
    const token = this.peek();
    if (token?.kind !== 'word') throw filterError(this.position(), `expected an attribute name but found ${describe(token)}`);
    const path = parseAttrPath(token.text);
    if (!path) throw filterError(token.pos, `"${token.text}" is not a valid attribute path`);
    this.index += 1;
    if (this.peek()?.kind === '[') return this.parseValuePath(path, depth, inValue);
    return this.parseComparison(path);
  }

  /**
   * `emails[type eq "work"]`, and the Entra match filter `emails[type eq "work"].value eq "x"`,
   * read as "an element with type work whose value is x": the inner filter and-ed with a compare
   * on the sub-attribute, so it still applies to a single element.
   */
  private parseValuePath(path: AttrPath, depth: number, inValue: boolean): Filter {
    const open = this.peek() as FilterToken;
    if (inValue) throw filterError(open.pos, 'value filters cannot be nested');
    if (path.sub !== undefined) throw filterError(open.pos, `a value filter cannot follow the sub-attribute "${path.attr}.${path.sub}"`);
    const inner = this.nest(depth);
    this.index += 1;
    let filter = this.parseOr(inner, true);
    this.expect(']');
    const next = this.peek();
    if (next?.kind === 'word' && next.text.startsWith('.')) {
      const sub = next.text.slice(1);
      if (!isAttrName(sub)) throw filterError(next.pos, `"${next.text}" is not a valid sub-attribute`);
      this.index += 1;
      filter = this.node({ kind: 'and', left: filter, right: this.parseComparison({ attr: sub }) });
    }
    return this.node({ kind: 'valuePath', path, filter });
  }

  private parseComparison(path: AttrPath): Filter {
    const token = this.peek();
    if (token?.kind !== 'word') throw filterError(this.position(), `expected an operator but found ${describe(token)}`);
    const op = token.text.toLowerCase();
    this.index += 1;
    if (op === 'pr') return this.node({ kind: 'present', path });
    if (!COMPARE_OPS.has(op)) {
      throw filterError(token.pos, `unknown operator "${token.text}" (expected eq, ne, co, sw, ew, gt, ge, lt, le or pr)`);
    }
    return this.node({ kind: 'compare', path, op: op as CompareOp, value: this.parseValue(op) });
  }

  private parseValue(op: string): FilterValue {
    const token = this.peek();
    if (token?.kind === 'string') {
      this.index += 1;
      return token.value;
    }
    if (token?.kind === 'word' && !token.text.startsWith('.')) {
      this.index += 1;
      return bareValue(token.text);
    }
    throw filterError(this.position(), `expected a value after "${op}" but found ${describe(token)}`);
  }
}

/**
 * Parses a SCIM filter (RFC 7644 §3.4.2.2). Operators and keywords are case-insensitive; attribute
 * paths keep the client's spelling and are resolved later. Throws ScimError 400 invalidFilter.
 */
export function parseFilter(text: string, limits?: Partial<FilterLimits>): Filter {
  const bounds: FilterLimits = { ...DEFAULT_FILTER_LIMITS, ...limits };
  if (text.length > bounds.maxLength) {
    throw filterError(bounds.maxLength, `filter is longer than ${bounds.maxLength} characters`);
  }
  const tokens = tokenizeFilter(text);
  if (tokens.length === 0) throw filterError(0, 'filter is empty');
  return new FilterParser(tokens, bounds, text.length).parse();
}
