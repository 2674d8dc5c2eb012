import { FerryError } from '@ferry/protocol';

/**
 * Reads a request body as text, counting bytes as they arrive: past `maxBytes` it stops
 * reading (the rest is never pulled from the connection) and throws `payload_too_large`. A
 * `Content-Length` over the limit is refused before reading anything.
 */
export async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await request.body?.cancel().catch(() => undefined);
    throw tooLarge(maxBytes);
  }
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new FerryError('bad_request', 'the body is not valid UTF-8', { cause });
  }
}

/** Reads a JSON body (see {@link readBodyText}); malformed JSON is `bad_request`. */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const text = await readBodyText(request, maxBytes);
  if (text.trim() === '') throw new FerryError('bad_request', 'the request needs a JSON body');
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new FerryError('bad_request', `malformed JSON: ${(cause as Error).message}`, { cause });
  }
}

function tooLarge(maxBytes: number): FerryError {
  return new FerryError('payload_too_large', `the body is larger than ${maxBytes} bytes`, {
    details: { maxBodyBytes: maxBytes },
  });
}
