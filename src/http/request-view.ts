import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** What the SCIM routes read of a request: headers by name and the body bytes. */
export interface RequestView {
  header(name: string): string | undefined;
  /** The body as it arrives, or null when the request has none. */
  body(): AsyncIterable<Uint8Array> | null;
}

/**
 * Reads a request straight from Node's IncomingMessage when the Node adapter provides one:
 * building the Web Request (Headers, AbortController, ReadableStream) costs more than the
 * rest of a lookup. Other runtimes (and app.request() in tests) read the Web Request.
 */
export function requestView(c: Context): RequestView {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming) {
    return {
      header: (name) => {
        const value = incoming.headers[name.toLowerCase()];
        return Array.isArray(value) ? value.join(', ') : value;
      },
      body: () => incoming,
    };
  }
  return {
    header: (name) => c.req.header(name),
    body: () => c.req.raw.body,
  };
}
