import { randomUUID } from 'node:crypto';
import pg from 'pg';

/** Heartbeat payloads start with this; token-change notifications carry an empty payload. */
const HEARTBEAT = 'heartbeat:';

/** The connection's application_name: `rolecall listen <channel>`. */
export const listenerName = (channel: string) => `rolecall listen ${channel}`.slice(0, 63);

export interface NotificationListenerOptions {
  /** How often a heartbeat is sent. Default 1,000 ms. */
  heartbeatMs?: number;
  /** Without a heartbeat heard for this long, version() answers undefined. Default 3,000 ms. */
  staleMs?: number;
  /** Wait before reconnecting after the connection failed. Default 1,000 ms. */
  retryMs?: number;
}

/**
 * Listens on one PostgreSQL notification channel over a connection of its own and turns what it
 * hears into a version: a text that changes with every notification, and whenever notifications
 * may have been missed (connection lost, re-established). Its heartbeat is a notification of its
 * own on the channel: PostgreSQL delivers a listener's notifications in commit order, so hearing
 * the heartbeat proves that every notification committed before it was sent has been heard, end
 * to end (a pooler that does not pass notifications on, or a connection cut without a word,
 * fails that proof). While it cannot vouch (not yet listening, reconnecting, or no heartbeat heard
 * for `staleMs`), version() is undefined, and callers remember nothing. Heartbeats, its own and
 * other listeners', do not change the version. Connection failures are retried for as long as
 * the listener is open; they never throw.
 */
export class NotificationListener {
  readonly #url: string;
  readonly #channel: string;
  readonly #heartbeatMs: number;
  readonly #staleMs: number;
  readonly #retryMs: number;
  #generation = 0;
  #client: pg.Client | undefined;
  /** When this listener last heard its own heartbeat (ms since epoch); 0 while it cannot vouch. */
  #aliveAt = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  /** This listener's heartbeat payload; every heartbeat's starts with HEARTBEAT. */
  readonly #beat = `${HEARTBEAT}${randomUUID()}`;

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

  /** Stops listening; resolves once the connection is closed. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#lost();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    // Named so that a database administrator can tell this connection apart in pg_stat_activity.
    // A connection attempt is bounded like a query: a server's start waits for the first one.
    const client = new pg.Client({
      connectionString: this.#url,
      connectionTimeoutMillis: this.#staleMs,
      query_timeout: this.#staleMs,
      application_name: listenerName(this.#channel),
    });
    client.on('notification', ({ payload }) => {
      if (payload === this.#beat) {
        if (this.#client === client) this.#aliveAt = Date.now();
      } else if (!payload?.startsWith(HEARTBEAT)) {
        this.#generation += 1;
      }
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
    const beat = () => client.query('SELECT pg_notify($1, $2)', [this.#channel, this.#beat]).catch(() => this.#failed(client));
    this.#heartbeat = setInterval(beat, this.#heartbeatMs);
    this.#heartbeat.unref();
    // Vouching starts when the first heartbeat comes back.
    await beat();
  }

  #failed(client: pg.Client): void {
    if (this.#client !== undefined && this.#client !== client) return;
    void this.#lost();
    client.end().catch(() => undefined);
    if (this.#closed || this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.#connect();
    }, this.#retryMs);
    this.#retry.unref();
  }

  /** Stops vouching: from now on version() is undefined until a new connection listens. Resolves once the old connection is closed. */
  async #lost(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#aliveAt = 0;
    this.#generation += 1;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}
