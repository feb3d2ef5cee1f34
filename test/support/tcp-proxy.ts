import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A byte forwarder on loopback, for making a database "go down" under a running server: stop()
 * closes the listener and destroys every forwarded connection (both ends), start() listens again
 * on the SAME port, so a URL pointing at the proxy stays valid across an outage.
 */
export class TcpProxy {
  #server: Server | undefined;
  #port = 0;
  readonly #sockets = new Set<Socket>();
  /** Connections accepted since creation (to check that traffic really went through the proxy). */
  accepted = 0;

  constructor(
    readonly upstreamPort: number,
    readonly upstreamHost = '127.0.0.1',
  ) {}

  /** The listening port (fixed after the first start). */
  get port(): number {
    return this.#port;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  /** Listens on loopback: an ephemeral port the first time, the same port afterwards. */
  async start(): Promise<number> {
    if (this.#server) return this.#port;
    const server = createServer((client) => this.#forward(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
    return this.#port;
  }

  /** Refuses new connections and cuts every open one, as a crashed or unreachable server would. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await closed;
  }

  #forward(client: Socket): void {
    this.accepted += 1;
    const upstream = connect(this.upstreamPort, this.upstreamHost);
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
