import pg from 'pg';

/** The connection's application_name: `rolecall listen <channel>`. */
export const listenerName = (channel: string) => `rolecall listen ${channel}`.slice(0, 63);

export interface NotificationListenerOptions {
  /** How often the connection is proven alive. Default 1,000 ms. */
  heartbeatMs?: number;
  /** Without a proof of life for this long, version() answers undefined. Default 3,000 ms. */
  staleMs?: number;
  /** Wait before reconnecting after the connection failed. Default 1,000 ms. */
  retryMs?: number;
}

/**
 * Listens on one PostgreSQL notification channel over a connection of its own and turns what it
 * hears into a version: a text that changes with every notification, and whenever notifications
 * may have been missed (connection lost, re-established). While it cannot vouch that it would
 * have heard a notification (not yet listening, reconnecting, or no answer to its heartbeat for
 * `staleMs`: a connection cut without a word), version() is undefined, and callers remember
 * nothing. Connection failures are retried for as long as the listener is open; they never throw.
 */
export class NotificationListener {
  readonly #url: string;
  readonly #channel: string;
  readonly #heartbeatMs: number;
  readonly #staleMs: number;
  readonly #retryMs: number;
  #generation = 0;
  #client: pg.Client | undefined;
  /** When the heartbeat last came back (ms since epoch); 0 while not listening. */
  #aliveAt = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(url: string, channel: string, options: NotificationListenerOptions = {}) {
    this.#url = url;
    this.#channel = channel;
    this.#heartbeatMs = options.heartbeatMs ?? 1000;
    this.#staleMs = options.staleMs ?? 3000;
    this.#retryMs = options.retryMs ?? 1000;
  }

  /** Connects and listens; resolves once listening or once the first attempt failed (it is retried). */
  start(): Promise<void> {
    return this.#connect();
  }

  version(): string | undefined {
    return this.#aliveAt > 0 && Date.now() - this.#aliveAt < this.#staleMs ? String(this.#generation) : undefined;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#lost();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    // Named so that a database administrator can tell this connection apart in pg_stat_activity.
    const client = new pg.Client({ connectionString: this.#url, query_timeout: this.#staleMs, application_name: listenerName(this.#channel) });
    client.on('notification', () => {
      this.#generation += 1;
    });
    // Both fire on a cut connection; either one ends this client and schedules the next.
    client.on('error', () => this.#failed(client));
    client.on('end', () => this.#failed(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(this.#channel)}`);
    } catch {
      this.#failed(client);
      return;
    }
    if (this.#closed || this.#client !== undefined) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    // Whatever was remembered before this connection listened may have missed a notification.
    this.#generation += 1;
    this.#aliveAt = Date.now();
    this.#heartbeat = setInterval(() => {
      client.query('SELECT 1').then(() => {
        if (this.#client === client) this.#aliveAt = Date.now();
      }, () => this.#failed(client));
    }, this.#heartbeatMs);
    this.#heartbeat.unref();
  }

  #failed(client: pg.Client): void {
    if (this.#client !== undefined && this.#client !== client) return;
    this.#lost();
    client.end().catch(() => undefined);
    if (this.#closed || this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.#connect();
    }, this.#retryMs);
    this.#retry.unref();
  }

  /** Stops vouching: from now on version() is undefined until a new connection listens. */
  #lost(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#aliveAt = 0;
    this.#generation += 1;
    const client = this.#client;
    this.#client = undefined;
    client?.end().catch(() => undefined);
  }
}
