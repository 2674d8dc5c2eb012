/**
 * A `fetch` that counts the bytes of request and response bodies, for the `bytesSent` and
 * `bytesReceived` metrics.
 *
 * @module
 */

/** Where the counts go. */
export interface ByteCounter {
  sent(bytes: number): void;
  received(bytes: number): void;
}

/**
 * Wraps `fetchImpl`. A string body counts its UTF-8 length; a response counts its
 * `content-length` when the server sent one, else the bytes of its body as they are read (a
 * streamed snapshot), so nothing is buffered for the count.
 */
export function countingFetch(fetchImpl: typeof fetch, counter: ByteCounter): typeof fetch {
  return async (input, init) => {
    const body = init?.body;
    if (typeof body === 'string') counter.sent(utf8Length(body));
    const response = await fetchImpl(input, init);
    const length = Number(response.headers.get('content-length'));
    if (response.body === null || (Number.isSafeInteger(length) && length > 0)) {
      if (length > 0) counter.received(length);
      return response;
    }
    const count = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        counter.received(chunk.byteLength);
        controller.enqueue(chunk);
      },
    });
    return new Response(response.body.pipeThrough(count), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

/** The UTF-8 length of a string, without encoding it. */
export function utf8Length(text: string): number {
  // ASCII up to the first other character (all of it, usually) is one byte per code unit.
  const first = text.search(NON_ASCII);
  if (first < 0) return text.length;
  let bytes = first;
  for (let i = first; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

const NON_ASCII = /[\u0080-\uffff]/;
