import { isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';

export type FieldPath = ReadonlyArray<string | number>;

/**
 * The 1-based line of the field at `path` in a parsed YAML/JSON document. Walks as deep as the
 * document goes: a missing field is reported at its nearest existing parent (a missing
 * `kind` points at the target that lacks it). A map entry is located by its key, so a
 * nested block ("connection:" followed by indented fields) points at the key's line.
 */
export function sourceLine(doc: Document, lines: LineCounter, path: FieldPath): number {
  let node: unknown = doc.contents;
  let offset = startOf(node) ?? 0;
  for (const segment of path) {
    const next = child(node, segment);
    if (next === undefined) break;
    offset = next.offset ?? offset;
    node = next.node;
  }
  return lines.linePos(offset).line;
}

function child(node: unknown, segment: string | number): { node: unknown; offset: number | undefined } | undefined {
  if (isMap(node)) {
    const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
    return pair && { node: pair.value, offset: startOf(pair.key) };
  }
  if (isSeq(node) && typeof segment === 'number') {
    const item = node.items[segment];
    return item === undefined ? undefined : { node: item, offset: startOf(item) };
  }
  return undefined;
}

function startOf(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range?.[0];
}

/** "targets[1].kind" for ['targets', 1, 'kind']. */
export function formatPath(path: FieldPath): string {
  return path.map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : index === 0 ? segment : `.${segment}`)).join('');
}
