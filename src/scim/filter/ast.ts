/** RFC 7644 §3.4.2.2 filter syntax tree. */
export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type FilterValue = string | number | boolean | null;

/**
 * An attribute path as written: optional schema URN, attribute, optional sub-attribute.
 * `attr` and `sub` keep the client's spelling; resolution against a schema is case-insensitive.
 */
export interface AttrPath {
  uri?: string;
  attr: string;
  sub?: string;
}

export type Filter =
  | { kind: 'compare'; path: AttrPath; op: CompareOp; value: FilterValue }
  | { kind: 'present'; path: AttrPath }
  | { kind: 'and'; left: Filter; right: Filter }
  | { kind: 'or'; left: Filter; right: Filter }
  | { kind: 'not'; filter: Filter }
  /** `emails[type eq "work" and value co "@x"]`: `filter` paths are sub-attributes of `path`. */
  | { kind: 'valuePath'; path: AttrPath; filter: Filter };
