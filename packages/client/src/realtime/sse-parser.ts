/**
 * An incremental parser for `text/event-stream` (the WHATWG Server-Sent Events format): bytes
 * or text in, in chunks split anywhere, events out.
 *
 * @module
 */

/** One item of the stream. */
export type SseItem =
  /** A dispatched event: `event` defaults to `message`; multi-line data joined with `\n`. */
  | {
      readonly type: 'event';
      readonly event: string;
      readonly data: string;
      readonly lastEventId: string;
    }
  /** A comment line (`: …`), as servers send for heartbeats; `text` without the colon. */
  | { readonly type: 'comment'; readonly text: string }
  /** A `retry:` field: the server's suggested reconnection delay. */
  | { readonly type: 'retry'; readonly ms: number };

/** The parser's state, fed chunk by chunk. */
export interface SseParser {
  /** Parses the next chunk; returns the items it completed. */
  push(chunk: Uint8Array | string): SseItem[];
  /**
   * Ends the stream. An event without its closing blank line is discarded, as the standard
   * says; returns nothing but resets the parser for reuse.
   */
  end(): SseItem[];
}

/**
 * Creates an incremental SSE parser. Handles `\r\n`, `\r` and `\n` line ends (also a `\r\n`
 * split across chunks), a UTF-8 byte-order mark, multi-byte characters split across byte
 * chunks, multi-line `data`, comments, `id` and `retry`.
 *
 * @example
 * const parser = createSseParser();
 * parser.push('event: poke\ndata: {"bundleSeq"'); // []
 * parser.push(': 58}\n\n'); // [{ type: 'event', event: 'poke', data: '{"bundleSeq": 58}', … }]
 */
export function createSseParser(): SseParser {
  let decoder = new TextDecoder('utf-8');
  let buffer = '';
  let atStart = true;
  let skipLineFeed = false;
  let eventType = '';
  let data: string[] | null = null;
  let lastEventId = '';

  const processLine = (line: string, out: SseItem[]): void => {
    if (line === '') {
      if (data !== null) {
        out.push({
          type: 'event',
          event: eventType === '' ? 'message' : eventType,
          data: data.join('\n'),
          lastEventId,
        });
      }
      data = null;
      eventType = '';
      return;
    }
    if (line.startsWith(':')) {
      out.push({ type: 'comment', text: line.slice(1).replace(/^ /, '') });
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    switch (field) {
      case 'event':
        eventType = value;
        break;
      case 'data':
        (data ??= []).push(value);
        break;
      case 'id':
        if (!value.includes('\0')) lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) out.push({ type: 'retry', ms: Number(value) });
        break;
      default:
        break; // unknown fields are ignored
    }
  };

  const feedText = (input: string): SseItem[] => {
    const out: SseItem[] = [];
    let text = input;
    if (atStart && text.length > 0) {
      atStart = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let start = 0;
    if (skipLineFeed && text.length > 0) {
      skipLineFeed = false;
      if (text.charCodeAt(0) === 10) start = 1;
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = buffer + text.slice(start, i);
      buffer = '';
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          skipLineFeed = true;
        }
      }
      start = i + 1;
      processLine(line, out);
    }
    buffer += text.slice(start);
    return out;
  };

  return {
    push(chunk) {
      // The decoder strips a leading BOM of a byte stream itself; text chunks are checked in
      // feedText.
      const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      if (typeof chunk !== 'string' && text.length > 0) atStart = false;
      return feedText(text);
    },
    end() {
      decoder.decode();
      decoder = new TextDecoder('utf-8');
      buffer = '';
      atStart = true;
      skipLineFeed = false;
      eventType = '';
      data = null;
      return [];
    },
  };
}
