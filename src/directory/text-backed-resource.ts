import type { StoredResource } from '../scim/resource-store.ts';

type Fields = Omit<StoredResource, 'data' | 'dataText' | 'groups'>;

/**
 * A stored resource whose `data` is parsed from `text` only when first read. `dataText` (not
 * enumerable, so a spread copy never carries it) gives the text only while `data` has been
 * neither read nor replaced: after that the data may have changed and the text is withheld.
 */
export function textBackedResource(fields: Fields, text: string): StoredResource {
  let parsed: Record<string, unknown> | undefined;
  const resource: StoredResource = {
    kind: fields.kind,
    tenantId: fields.tenantId,
    id: fields.id,
    version: fields.version,
    created: fields.created,
    lastModified: fields.lastModified,
    get data() {
      return (parsed ??= JSON.parse(text) as Record<string, unknown>);
    },
    set data(value) {
      parsed = value;
    },
  };
  return Object.defineProperty(resource, 'dataText', { get: () => (parsed === undefined ? text : undefined) });
}
