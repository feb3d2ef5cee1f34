import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { badRequest, ScimError } from '../domain/errors.ts';
import type { CompareOp, Filter, FilterValue } from '../scim/filter/ast.ts';
import { compareValue } from '../scim/filter/compare-value.ts';
import { parseAttrPath } from '../scim/filter/parse-attr-path.ts';
import {
  checkFilter,
  coerceFilterValue,
  comparedAttribute,
  resolveElementPath,
  resolveFilterPath,
  resolveValuePathParent,
} from '../scim/filter/resolve-filter.ts';
import type { AttributeDef, ResourceTypeDef } from '../scim/schema/attribute.ts';
import { isExtensionAttribute, leafAttribute, resolveAttribute, type ResolvedAttribute } from '../scim/schema/resolve-attribute.ts';
import type { ResourceKind } from '../scim/resource-store.ts';
import { escapeLike, type DialectSql, type JsonTarget } from './dialect-sql.ts';

/**
 * Compiles SCIM filters (RFC 7644 §3.4.2.2) and sortBy into SQL over the resource table aliased
 * `r`. Semantics follow the in-memory evaluator (src/scim/filter/evaluate-filter.ts): a comparison
 * matches when ANY value matches, `ne` is the negation of `eq` (an absent attribute is "not
 * equal"), `eq null` means absent, and every predicate is two-valued so `not` never meets SQL NULL.
 * Every value is a bound parameter; every identifier is a constant of this file.
 */

type Sql = RawBuilder<SqlBool>;

/** Where a compared value lives. */
type Operand =
  /** A column; `folded` when it holds the JavaScript lower-casing of the attribute (user_name_lc). */
  | { at: 'column'; expr: RawBuilder<unknown>; folded: boolean; nullable: boolean }
  | { at: 'json'; target: JsonTarget }
  /** A value fixed for the row set (meta.resourceType, a User's groups.type "direct"). */
  | { at: 'constant'; value: string };

/** The resource itself, or one element inside a value filter (`emails[...]`, `members[...]`). */
type Scope =
  | { at: 'resource' }
  | { at: 'json-element'; parent: ResolvedAttribute; target: JsonTarget }
  | { at: 'membership'; parent: ResolvedAttribute; alias: string };

const TRUE: Sql = sql<SqlBool>`(1 = 1)`;
const FALSE: Sql = sql<SqlBool>`(1 = 0)`;
const ORDERING: Partial<Record<CompareOp, RawBuilder<unknown>>> = { gt: sql.raw('>'), ge: sql.raw('>='), lt: sql.raw('<'), le: sql.raw('<=') };

const invalidFilter = (detail: string) => badRequest('invalidFilter', detail);
const col = (name: string) => sql.ref(`r.${name}`);
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Group `members` and User `groups` live in group_members, not in the JSON. */
function membershipOf(kind: ResourceKind, type: ResourceTypeDef, resolved: ResolvedAttribute): 'members' | 'groups' | undefined {
  if (isExtensionAttribute(type, resolved) || resolved.common) return undefined;
  if (kind === 'Group' && same(resolved.def.name, 'members')) return 'members';
  if (kind === 'User' && same(resolved.def.name, 'groups')) return 'groups';
  return undefined;
}

class SqlCompiler {
  #aliases = 0;
  constructor(
    private readonly d: DialectSql,
    private readonly type: ResourceTypeDef,
    private readonly kind: ResourceKind,
  ) {}

  compile(filter: Filter, scope: Scope): Sql {
    switch (filter.kind) {
      case 'and':
        return sql<SqlBool>`(${this.compile(filter.left, scope)} AND ${this.compile(filter.right, scope)})`;
      case 'or':
        return sql<SqlBool>`(${this.compile(filter.left, scope)} OR ${this.compile(filter.right, scope)})`;
      case 'not':
        return sql<SqlBool>`(NOT ${this.compile(filter.filter, scope)})`;
      case 'present':
        return this.present(this.resolve(scope, filter), scope);
      case 'compare':
        return this.compare(this.resolve(scope, filter), scope, filter.op, filter.value);
      case 'valuePath':
        return this.valuePath(resolveValuePathParent(this.type, filter.path), filter.filter);
    }
  }

  private resolve(scope: Scope, filter: Extract<Filter, { path: unknown }>): ResolvedAttribute {
    return scope.at === 'resource' ? resolveFilterPath(this.type, filter.path) : resolveElementPath(scope.parent, filter.path);
  }

  private alias(prefix: string): string {
    this.#aliases += 1;
    return `${prefix}${this.#aliases}`;
  }

  /** `emails[type eq "work" and value co "@x"]`: one element must satisfy the whole inner filter. */
  private valuePath(parent: ResolvedAttribute, inner: Filter): Sql {
    if (membershipOf(this.kind, this.type, parent)) {
      const alias = this.alias('m');
      return this.membershipExists(parent, alias, this.compile(inner, { at: 'membership', parent, alias }));
    }
    if (parent.common) throw invalidFilter(`"${parent.def.name}" cannot take a value filter`);
    const target = this.jsonTarget(parent);
    if (!parent.def.multiValued) return this.compile(inner, { at: 'json-element', parent, target });
    return this.d.jsonAnyElement(target, this.alias('e'), (element) => this.compile(inner, { at: 'json-element', parent, target: element }));
  }

  /** `pr` sees the attribute itself (`emails pr`: a non-empty array), or its sub-attribute. */
  private present(resolved: ResolvedAttribute, scope: Scope): Sql {
    return this.quantify(resolved, scope, false, (operand) => this.presentOperand(operand));
  }

  private compare(resolved: ResolvedAttribute, scope: Scope, op: CompareOp, raw: FilterValue): Sql {
    const leaf = comparedAttribute(resolved);
    const value = coerceFilterValue(leaf, op, raw);
    if (value === null) {
      const present = this.quantify(resolved, scope, true, (operand) => this.presentOperand(operand));
      return op === 'eq' ? sql<SqlBool>`(NOT ${present})` : present;
    }
    if (op === 'ne') {
      const eq = this.quantify(resolved, scope, true, (operand) => this.compareOperand(operand, leaf, 'eq', value));
      return sql<SqlBool>`(NOT ${eq})`;
    }
    return this.quantify(resolved, scope, true, (operand) => this.compareOperand(operand, leaf, op, value));
  }

  /**
   * Applies `test` to the value(s) of `resolved`: directly for single values, inside EXISTS for
   * multi-valued ones. `compared` selects the `value` sub-attribute of a complex attribute.
   */
  private quantify(resolved: ResolvedAttribute, scope: Scope, compared: boolean, test: (operand: Operand) => Sql): Sql {
    const leafName = compared && !resolved.sub && resolved.def.type === 'complex' ? leafAttribute(resolved)?.name : resolved.sub?.name;
    if (scope.at === 'json-element') {
      // Inside a value filter on a multi-valued attribute of simple values, `value` is the element.
      if (resolved.sub === undefined && scope.parent.def.type !== 'complex') return test({ at: 'json', target: scope.target });
      return test({ at: 'json', target: leafName ? this.d.jsonChild(scope.target, [leafName]) : scope.target });
    }
    if (scope.at === 'membership') return test(this.memberOperand(scope.parent, scope.alias, leafName ?? 'value'));

    if (membershipOf(this.kind, this.type, resolved)) {
      const alias = this.alias('m');
      return this.membershipExists(resolved, alias, test(this.memberOperand(resolved, alias, leafName ?? 'value')));
    }
    if (resolved.def.multiValued && (leafName !== undefined || compared)) {
      const target = this.jsonTarget(resolved);
      return this.d.jsonAnyElement(target, this.alias('e'), (element) =>
        test({ at: 'json', target: leafName ? this.d.jsonChild(element, [leafName]) : element }),
      );
    }
    return test(this.singleOperand(resolved, leafName));
  }

  /** A single value of the resource: a column when one holds it, else its place in `data`. */
  private singleOperand(resolved: ResolvedAttribute, leafName: string | undefined): Operand {
    if (resolved.common) return this.commonOperand(resolved);
    const column = this.indexedColumn(resolved);
    if (column) return column;
    const target = this.jsonTarget(resolved);
    return { at: 'json', target: leafName ? this.d.jsonChild(target, [leafName]) : target };
  }

  /** The attribute in `data`, under its schema URN for extension attributes (RFC 7643 §3.3). */
  private jsonTarget(resolved: ResolvedAttribute): JsonTarget {
    const keys = isExtensionAttribute(this.type, resolved) ? [resolved.schema, resolved.def.name] : [resolved.def.name];
    return this.d.jsonChild(this.d.jsonColumn(col('data')), keys);
  }

  private commonOperand(resolved: ResolvedAttribute): Operand {
    switch (resolved.def.name) {
      case 'id':
        return { at: 'column', expr: col('id'), folded: false, nullable: false };
      case 'externalId':
        return { at: 'column', expr: col('external_id'), folded: false, nullable: true };
    }
    switch (resolved.sub?.name) {
      case 'created':
        return { at: 'column', expr: col('created'), folded: false, nullable: false };
      case 'lastModified':
        return { at: 'column', expr: col('last_modified'), folded: false, nullable: false };
      case 'resourceType':
        return { at: 'constant', value: this.kind };
    }
    throw invalidFilter(`"meta${resolved.sub ? `.${resolved.sub.name}` : ''}" cannot be filtered`);
  }

  /** Core attributes copied into columns on every write, so that filters on them use indexes. */
  private indexedColumn(resolved: ResolvedAttribute): Operand | undefined {
    if (resolved.sub || isExtensionAttribute(this.type, resolved)) return undefined;
    const { name, caseExact } = resolved.def;
    if (this.kind === 'User' && name === 'userName') {
      return caseExact
        ? { at: 'column', expr: col('user_name'), folded: false, nullable: false }
        : { at: 'column', expr: col('user_name_lc'), folded: true, nullable: false };
    }
    if (this.kind === 'Group' && name === 'displayName') {
      return caseExact
        ? { at: 'column', expr: col('display_name'), folded: false, nullable: false }
        : { at: 'column', expr: col('display_name_lc'), folded: true, nullable: false };
    }
    if (this.kind === 'User' && name === 'displayName') return { at: 'column', expr: col('display_name'), folded: false, nullable: true };
    if (this.kind === 'User' && name === 'active') return { at: 'column', expr: col('active'), folded: false, nullable: false };
    return undefined;
  }

  private membershipExists(parent: ResolvedAttribute, alias: string, predicate: Sql): Sql {
    const m = (column: string) => sql.ref(`${alias}.${column}`);
    const own = parent.def.name === 'members' ? m('group_id') : m('member_id');
    return sql<SqlBool>`EXISTS (SELECT 1 FROM group_members AS ${sql.id(alias)} WHERE ${m('tenant_id')} = ${col('tenant_id')} AND ${own} = ${col('id')} AND ${predicate})`;
  }

  /** Sub-attributes of a Group's members (RFC 7643 §4.2) or a User's groups (§4.1.2), from the row. */
  private memberOperand(parent: ResolvedAttribute, alias: string, sub: string): Operand {
    const m = (column: string) => sql.ref(`${alias}.${column}`);
    const ofGroup = (id: RawBuilder<unknown>) => sql`(SELECT g.display_name FROM groups AS g WHERE g.tenant_id = ${m('tenant_id')} AND g.id = ${id})`;
    const members = parent.def.name === 'members';
    switch (sub) {
      case 'value':
        return { at: 'column', expr: members ? m('member_id') : m('group_id'), folded: false, nullable: false };
      case 'type':
        return members ? { at: 'column', expr: m('member_type'), folded: false, nullable: false } : { at: 'constant', value: 'direct' };
      case 'display':
        return {
          at: 'column',
          expr: members
            ? sql`COALESCE((SELECT u.user_name FROM users AS u WHERE u.tenant_id = ${m('tenant_id')} AND u.id = ${m('member_id')}), ${ofGroup(m('member_id'))})`
            : ofGroup(m('group_id')),
          folded: false,
          nullable: true,
        };
    }
    throw invalidFilter(`"${parent.def.name}.${sub}" cannot be filtered`);
  }

  private presentOperand(operand: Operand): Sql {
    switch (operand.at) {
      case 'constant':
        return TRUE;
      case 'json':
        return this.d.jsonPresent(operand.target);
      case 'column':
        // Non-nullable columns (ids, userName, active, timestamps) always hold a value.
        return operand.nullable ? sql<SqlBool>`(${operand.expr} IS NOT NULL AND ${operand.expr} <> '')` : TRUE;
    }
  }

  private compareOperand(operand: Operand, leaf: AttributeDef, op: CompareOp, value: Exclude<FilterValue, null>): Sql {
    // A constant attribute (the same for every row) is compared here, as the in-memory evaluator does.
    if (operand.at === 'constant') return compareValue(leaf, op, operand.value, String(value)) ? TRUE : FALSE;
    if (leaf.type === 'boolean') {
      // checkFilter allows only eq (ne arrives here as eq) on booleans.
      if (operand.at === 'json') return this.d.jsonIsBoolean(operand.target, value as boolean);
      return sql<SqlBool>`(${operand.expr} = ${this.d.bool(value as boolean)})`;
    }
    if (leaf.type === 'integer' || leaf.type === 'decimal') {
      const number = operand.at === 'json' ? this.d.jsonNumber(operand.target) : operand.expr;
      return sql<SqlBool>`(${number} IS NOT NULL AND ${number} ${ORDERING[op] ?? sql.raw('=')} ${value})`;
    }

    let text: string = leaf.type === 'dateTime' ? normaliseInstant(String(value)) : String(value);
    let expr: RawBuilder<unknown> = operand.at === 'json' ? this.d.jsonText(operand.target) : operand.expr;
    const nullable = operand.at === 'json' || operand.nullable;
    // Columns are already in code-point order; JSON text and lower() results need binary().
    let ordered = operand.at === 'json';
    if (!leaf.caseExact) {
      text = text.toLowerCase();
      if (operand.at === 'json' || !operand.folded) {
        expr = this.d.lower(expr);
        ordered = true;
      }
    }
    const guard = (predicate: Sql) => (nullable ? sql<SqlBool>`(${expr} IS NOT NULL AND ${predicate})` : predicate);
    switch (op) {
      case 'eq':
        return guard(sql<SqlBool>`${expr} = ${text}`);
      case 'co':
        return guard(this.d.like(expr, `%${escapeLike(text)}%`));
      case 'sw':
        return guard(this.d.like(expr, `${escapeLike(text)}%`));
      case 'ew':
        return guard(this.d.like(expr, `%${escapeLike(text)}`));
      case 'gt':
      case 'ge':
      case 'lt':
      case 'le':
        return guard(sql<SqlBool>`${ordered ? this.d.binary(expr) : expr} ${ORDERING[op]} ${text}`);
      case 'ne':
        throw new Error('ne is compiled as NOT eq');
    }
  }

  /**
   * RFC 7644 §3.4.2.3: a multi-valued sortBy sorts by the primary value if any, else the first
   * value; `emails` and `emails.value` both mean the `value` sub-attribute.
   */
  private multiValuedSortKey(resolved: ResolvedAttribute, leaf: AttributeDef): RawBuilder<unknown> {
    const target = this.jsonTarget(resolved);
    const leafName = resolved.def.type === 'complex' ? leaf.name : undefined;
    const valueOf = (element: JsonTarget) => this.d.jsonText(leafName ? this.d.jsonChild(element, [leafName]) : element);
    const first = valueOf(this.d.jsonFirstElement(target));
    const hasPrimary = resolved.def.subAttributes?.some((a) => a.name === 'primary' && a.type === 'boolean');
    const key = hasPrimary
      ? sql`COALESCE(${this.d.jsonFindElement(target, this.alias('e'), (element) => this.d.jsonIsBoolean(this.d.jsonChild(element, ['primary']), true), valueOf)}, ${first})`
      : first;
    return this.d.binary(leaf.caseExact ? key : this.d.lower(key));
  }

  /** The ORDER BY expression for sortBy (RFC 7644 §3.4.2.3), and whether it can be NULL. */
  sortKey(sortBy: string): { expr: RawBuilder<unknown>; nullable: boolean } {
    const path = parseAttrPath(sortBy);
    const resolved = path && resolveAttribute(this.type, path);
    const leaf = resolved && leafAttribute(resolved);
    if (!resolved || !leaf || membershipOf(this.kind, this.type, resolved)) {
      throw badRequest('invalidValue', `sortBy "${sortBy}" is not an attribute of ${this.type.name} that can be sorted on`);
    }
    if (resolved.def.multiValued) return { expr: this.multiValuedSortKey(resolved, leaf), nullable: true };
    let operand: Operand;
    try {
      operand = this.singleOperand(resolved, resolved.sub?.name ?? (resolved.def.type === 'complex' ? leaf.name : undefined));
    } catch (error) {
      // meta.location / meta.version: no column holds them.
      if (error instanceof ScimError) throw badRequest('invalidValue', `sortBy "${sortBy}" cannot be sorted on`);
      throw error;
    }
    switch (operand.at) {
      case 'constant':
        return { expr: sql`${operand.value}`, nullable: false };
      case 'column': {
        const fold = !leaf.caseExact && !operand.folded && leaf.type === 'string';
        return { expr: fold ? this.d.binary(this.d.lower(operand.expr)) : operand.expr, nullable: operand.nullable };
      }
      case 'json': {
        if (leaf.type === 'integer' || leaf.type === 'decimal') return { expr: this.d.jsonNumber(operand.target), nullable: true };
        const text = this.d.jsonText(operand.target);
        return { expr: this.d.binary(leaf.caseExact ? text : this.d.lower(text)), nullable: true };
      }
    }
  }
}

/** ISO-8601 instants compare as text only in one form: UTC, millisecond precision, `Z`. */
function normaliseInstant(value: string): string {
  const time = Date.parse(value);
  return Number.isNaN(time) ? value : new Date(time).toISOString();
}


/** WHERE condition for `filter` on the table aliased `r`; throws 400 invalidFilter first if it does not fit `type`. */
export function compileFilter(filter: Filter, type: ResourceTypeDef, kind: ResourceKind, d: DialectSql): RawBuilder<SqlBool> {
  checkFilter(filter, type);
  return new SqlCompiler(d, type, kind).compile(filter, { at: 'resource' });
}

/**
 * ORDER BY terms for `sortBy`, ties broken by id so pages are stable. Resources without a value
 * sort last in ascending order (first in descending), on both stores; a multi-valued attribute
 * sorts by its primary (else first) value. An unknown sortBy, a complex attribute without
 * `value`, group membership and meta.location/version are rejected with 400 invalidValue rather
 * than silently ignored (RFC 7644 §3.4.2.3 leaves it open): a client that misspells the attribute
 * learns it instead of paging in the wrong order.
 */
export function compileSort(sortBy: string | undefined, order: 'ascending' | 'descending' | undefined, type: ResourceTypeDef, kind: ResourceKind, d: DialectSql): RawBuilder<unknown>[] {
  const id = sql`${col('id')} ASC`;
  if (sortBy === undefined) return [id];
  const { expr, nullable } = new SqlCompiler(d, type, kind).sortKey(sortBy);
  const direction = order === 'descending' ? sql.raw('DESC') : sql.raw('ASC');
  return nullable ? [sql`(${expr} IS NULL) ${direction}`, sql`${expr} ${direction}`, id] : [sql`${expr} ${direction}`, id];
}
