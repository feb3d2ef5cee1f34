import {
  sql,
  ValueNode,
  type KyselyPlugin,
  type OperationNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';

/**
 * Sends LIMIT and OFFSET parameters as `cast(? as integer)` on SQLite. Since 3.45 SQLite reads
 * a bare `LIMIT ?` parameter's value while planning and marks the statement to be re-planned
 * whenever that parameter is bound again (sqlite3ExprIsInteger sets the statement's expmask):
 * every run of a cached statement with a LIMIT parameter was parsed and planned anew, 25-40 us
 * for a SCIM list query here. A cast is not a bare parameter, so the plan is kept; the value
 * is still a bound parameter, never spliced into the text.
 */
export class BoundLimitPlugin implements KyselyPlugin {
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return castLimits(args.node) as RootOperationNode;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

/** Nodes whose members hold caller data, not nodes: never walked into. */
const DATA_NODES = new Set(['ValueNode', 'PrimitiveValueListNode']);

/**
 * The tree with every LIMIT/OFFSET parameter (at any depth: a claim's subquery has one) cast.
 * Kysely's OperationNodeTransformer would copy every node of every query; this walk copies only
 * the path to a changed node, since SCIM list queries are built and compiled per request.
 */
function castLimits(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const next = castLimits(item);
      if (next !== item) (copy ??= [...value])[i] = next;
    });
    return copy ? Object.freeze(copy) : value;
  }
  const node = value as OperationNode & Record<string, unknown>;
  if (DATA_NODES.has(node.kind)) return node;
  if (node.kind === 'LimitNode') return Object.freeze({ kind: 'LimitNode', limit: castInteger(node.limit as OperationNode) });
  if (node.kind === 'OffsetNode') return Object.freeze({ kind: 'OffsetNode', offset: castInteger(node.offset as OperationNode) });
  let copy: Record<string, unknown> | undefined;
  for (const key in node) {
    const child = node[key];
    if (typeof child !== 'object' || child === null) continue;
    const next = castLimits(child);
    if (next !== child) (copy ??= { ...node })[key] = next;
  }
  return copy ? Object.freeze(copy) : node;
}

function castInteger(node: OperationNode): OperationNode {
  return ValueNode.is(node) ? sql`cast(${node.value} as integer)`.toOperationNode() : node;
}
