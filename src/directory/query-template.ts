import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely';
import { ahead, atCommit } from './held-statements.ts';

/** Stands for the i-th value while a template is compiled. */
export class Slot {
  constructor(readonly index: number) {}
}

/**
 * A query of fixed shape, built and compiled by Kysely once, then run with new values. Building
 * and compiling cost more than running the statement on the embedded store, so the hot paths
 * (one insert per audited change, a token lookup per request) keep their compiled text.
 * Values are still bound parameters: `build` receives placeholders, and each must end up as a
 * parameter of the compiled query (a template that loses one is refused). Constants written
 * in `build` stay bound parameters with their value.
 */
export class QueryTemplate<V extends readonly unknown[]> {
  #compiled: { sql: string; parameters: readonly unknown[] } | undefined;

  constructor(
    private readonly db: Kysely<any>,
    private readonly arity: V['length'],
    private readonly build: (db: Kysely<any>, ...values: unknown[]) => Compilable,
  ) {}

  /** Runs on `executor`: the template's database itself or a transaction of it. */
  async execute<R = Record<string, unknown>>(executor: Kysely<any>, ...values: V): Promise<QueryResult<R>> {
    return executor.executeQuery<R>(this.#bind(values));
  }

  /** Runs on `executor`'s transaction, at the latest with its commit (see atCommit); returns nothing. */
  async executeAtCommit(executor: Kysely<any>, ...values: V): Promise<void> {
    await executor.executeQuery(atCommit(this.#bind(values)));
  }

  /** Runs on `executor`'s transaction before its next statement (see ahead); returns nothing. */
  async executeAhead(executor: Kysely<any>, ...values: V): Promise<void> {
    await executor.executeQuery(ahead(this.#bind(values)));
  }

  #bind(values: V): CompiledQuery {
    const { sql, parameters } = this.#compile();
    return CompiledQuery.raw(sql, parameters.map((p) => (p instanceof Slot ? values[p.index] : p)));
  }

  #compile(): { sql: string; parameters: readonly unknown[] } {
    if (this.#compiled) return this.#compiled;
    const placeholders = Array.from({ length: this.arity }, (_, i) => new Slot(i));
    const compiled = this.build(this.db, ...placeholders).compile();
    const bound = new Set(compiled.parameters.flatMap((p) => (p instanceof Slot ? [p.index] : [])));
    const lost = placeholders.find((p) => !bound.has(p.index));
    if (lost) throw new Error(`query template does not bind value ${lost.index}: ${compiled.sql}`);
    this.#compiled = { sql: compiled.sql, parameters: compiled.parameters };
    return this.#compiled;
  }
}

/**
 * Templates of a family of statements that differ in shape (a column list, a row count), by a
 * key naming the shape: each is built and compiled on its first use.
 */
export class QueryTemplates {
  readonly #templates = new Map<string, QueryTemplate<unknown[]>>();

  /** The template of shape `key`, made from `db`, `arity` and `build` the first time the key is asked for. */
  get(key: string, db: Kysely<any>, arity: number, build: (db: Kysely<any>, ...values: unknown[]) => Compilable): QueryTemplate<unknown[]> {
    let template = this.#templates.get(key);
    if (!template) {
      template = new QueryTemplate(db, arity, build);
      this.#templates.set(key, template);
    }
    return template;
  }
}
