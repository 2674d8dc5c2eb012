/**
 * HTTP/1.1 over a raw TCP socket, for tests that must control every byte and the moment a
 * client hangs up: half-sent heads, trickled bodies, a socket kept idle between requests.
 */
import { connect, type Socket } from 'node:net';

/** An answer read off a raw socket. */
export interface RawAnswer {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A connected socket to the server at `url`, with everything it receives collected. */
export interface RawConnection {
  readonly socket: Socket;
  /** Everything received so far. */
  readonly received: string;
  /** Resolves when the server closed the connection (or it was destroyed). */
  readonly closed: Promise<void>;
  write(text: string | Uint8Array): Promise<void>;
  /** Resolves once `received` contains `needle`; rejects when the socket closes first. */
  waitFor(needle: string): Promise<void>;
  /** Reads one complete answer (Content-Length or chunked) from what arrives. */
  answer(): Promise<RawAnswer>;
  /** The status of the next answer, once its head arrived; the answer is not consumed. */
  nextStatus(): Promise<number>;
  destroy(): void;
}

/** Opens a TCP connection to the host and port of `url`. */
export async function rawConnect(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let received = '';
  let consumed = 0;
  let listeners: (() => void)[] = [];
  /** Needles waited for, each with the text seen since its last check (answers may be MBs). */
  let needles: { needle: string; window: string; found: () => void }[] = [];
  const notify = () => {
    const current = listeners;
    listeners = [];
    for (const listener of current) listener();
  };
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    received += chunk;
    needles = needles.filter((waiter) => {
      waiter.window = waiter.window.slice(-waiter.needle.length) + chunk;
      if (!waiter.window.includes(waiter.needle)) return true;
      waiter.found();
      return false;
    });
    notify();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let isClosed = false;
  void closed.then(() => {
    isClosed = true;
    notify();
  });
  const until = async <T>(check: () => T | undefined, what: string): Promise<T> => {
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      if (isClosed)
        throw new Error(
          `the connection closed before ${what}; got ${JSON.stringify(received.slice(consumed, consumed + 300))}`,
        );
      await new Promise<void>((resolve) => listeners.push(resolve));
    }
  };
  return {
    socket,
    get received() {
      return received;
    },
    closed,
    write(text) {
      return new Promise<void>((resolve, reject) =>
        socket.write(text, (error) => (error ? reject(error) : resolve())),
      );
    },
    waitFor(needle) {
      if (received.includes(needle)) return Promise.resolve();
      let seen = false;
      needles.push({
        needle,
        window: received.slice(-needle.length),
        found: () => (seen = true),
      });
      return until(() => (seen ? true : undefined), JSON.stringify(needle)).then(() => undefined);
    },
    answer() {
      return until(() => {
        const parsed = parseAnswer(received.slice(consumed));
        if (!parsed) return undefined;
        consumed += parsed.length;
        return parsed.answer;
      }, 'a complete answer');
    },
    nextStatus() {
      return until(() => {
        const rest = received.slice(consumed);
        return rest.includes('\r\n\r\n') ? Number(rest.split(' ')[1]) : undefined;
      }, 'an answer head');
    },
    destroy() {
      socket.destroy();
    },
  };
}

/** A request head: `METHOD path HTTP/1.1`, Host, the given headers, blank line. */
export function head(method: string, path: string, headers: Record<string, string> = {}): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function parseAnswer(text: string): { answer: RawAnswer; length: number } | undefined {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const status = Number(statusLine!.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = text.slice(end + 4);
  const decode = (latin1: string) => Buffer.from(latin1, 'latin1').toString('utf8');
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (rest.length < length) return undefined;
    return {
      answer: { status, headers, body: decode(rest.slice(0, length)) },
      length: end + 4 + length,
    };
  }
  if (headers['transfer-encoding'] === 'chunked') {
    let offset = 0;
    let body = '';
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', offset);
      if (lineEnd < 0) return undefined;
      const size = parseInt(rest.slice(offset, lineEnd), 16);
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
      offset = lineEnd + 2 + size + 2;
      if (size === 0) break;
    }
    return { answer: { status, headers, body: decode(body) }, length: end + 4 + offset };
  }
  return { answer: { status, headers, body: '' }, length: end + 4 };
}
