import { badRequest, ScimError } from '../domain/errors.ts';
import type { RequestView } from './request-view.ts';

const JSON_TYPES = /^application\/(scim\+)?json\b/i;

/** Deeper nesting than any SCIM resource needs; checked before any recursive processing. */
const MAX_DEPTH = 64;

/**
 * Reads a request body as JSON within a byte limit. Oversized -> 413, non-JSON content type
 * -> 415, malformed or absurdly nested -> 400 invalidSyntax; nothing is written in any case.
 */
export async function readJsonBody(request: RequestView, maxBytes: number): Promise<unknown> {
  const declared = Number(request.header('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const body = request.body();
  if (!body) return undefined;
  const type = request.header('content-type');
  if (type !== undefined && !JSON_TYPES.test(type)) {
    throw new ScimError(415, `Content-Type must be application/scim+json or application/json, not "${type}"`);
  }
  const text = await readCapped(body, maxBytes);
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw badRequest('invalidSyntax', `The body is not valid JSON: ${(error as Error).message}`);
  }
  if (depthExceeds(parsed, MAX_DEPTH)) throw badRequest('invalidSyntax', `The body nests deeper than ${MAX_DEPTH} levels`);
  return parsed;
}

async function readCapped(stream: AsyncIterable<Uint8Array>, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early (return/throw) cancels the stream.
  for await (const chunk of stream) {
    size += chunk.byteLength;
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  // RFC 8259 §8.1: JSON text is UTF-8. Invalid bytes are refused rather than silently replaced
  // by U+FFFD, which would store something other than what the client sent.
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw badRequest('invalidSyntax', 'The body is not valid UTF-8 (RFC 8259 §8.1)');
  }
}

/** Iterative, so a hostile body cannot overflow the stack here. */
function depthExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

const tooLarge = (maxBytes: number) => new ScimError(413, `The request body exceeds ${maxBytes} bytes`);
