import {
  OperationNodeTransformer,
  sql,
  type KyselyPlugin,
  type LimitNode,
  type OffsetNode,
  type OperationNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
  ValueNode,
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
  readonly #transformer = new CastLimits();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.#transformer.transformNode(args.node, args.queryId);
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

class CastLimits extends OperationNodeTransformer {
  protected override transformLimit(node: LimitNode): LimitNode {
    return { kind: 'LimitNode', limit: castInteger(node.limit) };
  }

  protected override transformOffset(node: OffsetNode): OffsetNode {
    return { kind: 'OffsetNode', offset: castInteger(node.offset) };
  }
}

function castInteger(node: OperationNode): OperationNode {
  return ValueNode.is(node) ? sql`cast(${node.value} as integer)`.toOperationNode() : node;
}
