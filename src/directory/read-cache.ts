/** Entries kept at most per kind; past that the cache starts over. */
const MAX_ENTRIES = 1000;

/**
 * What list pages learn about a result, kept while the data is known not to have changed:
 * totals (so a page needs no COUNT) and, per result, the id ending each page served (so the
 * next page continues after it instead of walking an OFFSET). `token` names the data's
 * version; a different token drops everything. Only a store that can tell cheaply whether
 * anything was written since, by any process, has one (the embedded store; see
 * KyselyResourceStore). A value is stored only under the token it was computed under, so a
 * write that lands between reading and storing never leaves a stale entry behind.
 */
export class ReadCache {
  #token: string | undefined;
  readonly #counts = new Map<string, number>();
  readonly #cursors = new Map<string, string>();

  constructor(private readonly currentToken: () => Promise<string>) {}

  /** Reads the data's version, dropping what was cached under another; pass it back to the setters. */
  async validate(): Promise<string> {
    const token = await this.currentToken();
    if (token !== this.#token) {
      this.#token = token;
      this.#counts.clear();
      this.#cursors.clear();
    }
    return token;
  }

  count(key: string): number | undefined {
    return this.#counts.get(key);
  }

  setCount(token: string, key: string, total: number): void {
    if (token === this.#token) put(this.#counts, key, total);
  }

  /** The id of the row just before position `offset` (0-based) of result `key`, when a page ended there. */
  cursor(key: string, offset: number): string | undefined {
    return this.#cursors.get(`${offset}\u0000${key}`);
  }

  setCursor(token: string, key: string, offset: number, id: string): void {
    if (token === this.#token) put(this.#cursors, `${offset}\u0000${key}`, id);
  }
}

function put<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_ENTRIES) map.clear();
  map.set(key, value);
}
