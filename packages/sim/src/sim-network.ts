import type { FaultKind } from './fault-kinds.js';
import { never, type Gate } from './gates.js';
import type { SeededRandom } from './seeded-random.js';
import type { Incarnation, SimDevice } from './sim-device.js';
import {
  ServerUnreachable,
  type SimServer,
  type WireAnswer,
  type WireRequest,
} from './sim-server.js';

/** Per-message probabilities of the network faults (0..1). */
export interface NetworkFaultRates {
  readonly dropRequest: number;
  readonly dropResponse: number;
  readonly duplicateRequest: number;
  readonly delayedDuplicate: number;
  readonly cutResponse: number;
  readonly badGateway: number;
  readonly unauthorized: number;
}

/** The default rates: roughly one message in five meets some fault. */
export const DEFAULT_NETWORK_FAULTS: NetworkFaultRates = {
  dropRequest: 0.04,
  dropResponse: 0.05,
  duplicateRequest: 0.03,
  delayedDuplicate: 0.03,
  cutResponse: 0.04,
  badGateway: 0.01,
  unauthorized: 0.01,
};

type Message =
  | {
      readonly kind: 'request';
      readonly id: number;
      readonly device: SimDevice;
      readonly inc: Incarnation;
      readonly request: WireRequest;
      /** Null for a stray copy whose answer goes nowhere. */
      readonly gate: Gate<Response> | null;
    }
  | {
      readonly kind: 'answer';
      readonly id: number;
      readonly device: SimDevice;
      readonly inc: Incarnation;
      readonly gate: Gate<Response>;
      readonly label: string;
      readonly make: () => Response;
    }
  | {
      readonly kind: 'failure';
      readonly id: number;
      readonly device: SimDevice;
      readonly inc: Incarnation;
      readonly gate: Gate<Response>;
      readonly label: string;
      readonly error: Error;
    };

/** What the network reports to the simulation. */
export interface NetworkHooks {
  trace(line: string): void;
  fault(kind: FaultKind): void;
}

/**
 * A middlebox that takes out what makes a copied file, a restored backup or a restored server
 * detectable, for negative controls: the engine runs unchanged, it only never gets to see (or
 * send) those facts.
 */
export interface NetworkTamper {
  /** Pull answers lose the bundles' `digest`. */
  readonly stripDigests?: boolean;
  /** Pulls and syncs lose the history token of the cursor (`token=`, `afterToken`). */
  readonly stripHistoryTokens?: boolean;
  /** A 409 `stale_bundle` reaches the client as a 500. */
  readonly hideStaleBundle?: boolean;
  /**
   * A lost history looks like a mere prune: a 410 `cursor_unknown` reaches the client as
   * `history_pruned`, and snapshot heads lose `afterHistory`.
   */
  readonly disguiseLostHistory?: boolean;
  /** Pushes and syncs lose their bases point (`basesAt`). */
  readonly stripBasesPoint?: boolean;
}

/**
 * The simulated network between the clients and the server. A client's `fetch` puts its
 * request in flight and waits on a gate; the simulator delivers messages one at a time in an
 * order it draws (requests of different clients interleave; answers come back late), and on
 * the way drops requests, drops answers after the server did the work, duplicates requests
 * (at once or much later), cuts answers part-way, or answers for the server (502, 401).
 */
export class SimNetwork {
  readonly #server: SimServer;
  readonly #random: SeededRandom;
  readonly #hooks: NetworkHooks;
  readonly #queue: Message[] = [];
  #nextId = 1;
  rates: NetworkFaultRates;
  faultsOn = true;
  readonly #tamper: NetworkTamper;
  /** Requests each device sent (reached the server or not), by device name. */
  readonly sent = new Map<string, number>();

  constructor(
    server: SimServer,
    random: SeededRandom,
    rates: NetworkFaultRates,
    hooks: NetworkHooks,
    tamper: NetworkTamper = {},
  ) {
    this.#server = server;
    this.#random = random;
    this.rates = rates;
    this.#hooks = hooks;
    this.#tamper = tamper;
  }

  /** Messages in flight. */
  get size(): number {
    return this.#queue.length;
  }

  /** The `fetch` of one client incarnation. */
  fetchFor(inc: Incarnation): typeof fetch {
    const device = inc.device;
    return (input, init) => {
      if (inc.dead) return never();
      inc.activity();
      const signal = init?.signal ?? undefined;
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      if (device.offline) {
        this.#hooks.fault('offline');
        return Promise.reject(new TypeError('fetch failed', { cause: new Error('offline') }));
      }
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((value, key) => {
        headers[key] = value;
      });
      const request: WireRequest = this.#tamperRequest({
        method: init?.method ?? 'GET',
        url,
        headers,
        body: typeof init?.body === 'string' ? init.body : undefined,
      });
      this.sent.set(device.name, (this.sent.get(device.name) ?? 0) + 1);
      const gate = inc.ops.gate<Response>();
      const id = this.#nextId++;
      this.#queue.push({ kind: 'request', id, device, inc, request, gate });
      this.#hooks.trace(`${device.name} sends ${label(request)} [m${id}]`);
      // A timeout or an abort ends the wait; the request itself stays in the network.
      if (signal) {
        const giveUp = () => {
          if (inc.dead || gate.settled) return;
          this.#hooks.trace(
            `${device.name} gives up on [m${id}] (${String((signal.reason as Error | undefined)?.message ?? 'aborted')})`,
          );
          gate.fail(abortReason(signal));
        };
        // Detached once the wait is over or the process is gone: a listener left on the
        // client's signal (made by AbortSignal.any, so kept alive while it has one) would keep
        // the incarnation, its client and the whole run alive to the end of the process.
        signal.addEventListener('abort', giveUp, { once: true });
        const detach = () => signal.removeEventListener('abort', giveUp);
        const forget = inc.onExit(detach);
        const done = () => {
          forget();
          detach();
        };
        gate.promise.then(done, done);
      }
      return gate.promise;
    };
  }

  /** Delivers one message: a random one while faults are on, else the oldest. */
  async deliverNext(): Promise<void> {
    if (this.#queue.length === 0) return;
    let index = 0;
    if (this.faultsOn) {
      index = this.#random.int(0, this.#queue.length - 1);
      if (index > 0) this.#hooks.fault('reorder');
    }
    const [message] = this.#queue.splice(index, 1);
    await this.#deliver(message!);
  }

  /** Delivers every message in flight (oldest first) until none is left. */
  async drainAll(settle: () => Promise<void>, limit: number): Promise<boolean> {
    for (let i = 0; i < limit && this.#queue.length > 0; i++) {
      await this.deliverNext();
      await settle();
    }
    return this.#queue.length === 0;
  }

  async #deliver(message: Message): Promise<void> {
    const { device, inc } = message;
    const tag = `[m${message.id}]`;
    if (message.kind === 'answer' || message.kind === 'failure') {
      if (inc.dead || message.gate.settled) {
        const why = inc.dead ? 'is gone' : 'stopped waiting';
        this.#hooks.trace(`${device.name} ${why}; ${message.label} ${tag} is lost`);
        return;
      }
      if (message.kind === 'answer') {
        this.#hooks.trace(`${device.name} receives ${message.label} ${tag}`);
        message.gate.open(message.make());
      } else {
        this.#hooks.trace(`${device.name} fails: ${message.label} ${tag}`);
        message.gate.fail(message.error);
      }
      return;
    }

    const { request, gate } = message;
    const stray = gate === null || inc.dead;
    const faults = this.faultsOn && !stray;
    const roll = (rate: number, kind: FaultKind) => {
      if (!faults || !this.#random.chance(rate)) return false;
      this.#hooks.fault(kind);
      return true;
    };
    const fail = (label: string, error: Error) =>
      this.#queue.push({ kind: 'failure', id: message.id, device, inc, gate: gate!, label, error });

    if (roll(this.rates.dropRequest, 'drop-request')) {
      this.#hooks.trace(`network drops ${label(request)} from ${device.name} ${tag}`);
      fail('request lost', networkError('ECONNRESET'));
      return;
    }
    if (roll(this.rates.badGateway, 'bad-gateway')) {
      this.#hooks.trace(`proxy answers 502 to ${label(request)} from ${device.name} ${tag}`);
      this.#queue.push({
        kind: 'answer',
        id: message.id,
        device,
        inc,
        gate: gate!,
        label: '502 from a proxy',
        make: () =>
          new Response('<html><body>502 Bad Gateway</body></html>', {
            status: 502,
            headers: { 'content-type': 'text/html' },
          }),
      });
      return;
    }
    const deny = roll(this.rates.unauthorized, 'unauthorized');
    if (roll(this.rates.duplicateRequest, 'duplicate-request')) {
      const first = await this.#exchange(message, deny, 'first copy');
      if (first === null) {
        fail('connection refused', networkError('ECONNREFUSED'));
        return;
      }
    }
    if (roll(this.rates.delayedDuplicate, 'delayed-duplicate')) {
      this.#queue.push({ ...message, id: this.#nextId++, gate: null });
      this.#hooks.trace(`network keeps a copy of ${label(request)} from ${device.name} for later`);
    }
    const answer = await this.#exchange(message, deny, stray ? 'stray copy' : '');
    if (answer === null) {
      if (!stray) fail('connection refused', networkError('ECONNREFUSED'));
      return;
    }
    if (stray) return;
    if (roll(this.rates.dropResponse, 'drop-response')) {
      this.#hooks.trace(`network loses the answer to ${device.name} ${tag}`);
      fail('answer lost', networkError('ECONNRESET'));
      return;
    }
    const cut = roll(this.rates.cutResponse, 'cut-response')
      ? {
          at: this.#random.int(0, Math.max(0, answer.bytes.length - 1)),
          error: this.#random.chance(0.5),
        }
      : null;
    this.#queue.push({
      kind: 'answer',
      id: message.id,
      device,
      inc,
      gate,
      label: `${answer.status}${cut ? ` cut at byte ${cut.at}${cut.error ? ' with an error' : ''}` : ''}`,
      make: () => responseOf(answer, cut),
    });
  }

  #tamperRequest(request: WireRequest): WireRequest {
    const { stripHistoryTokens, stripBasesPoint } = this.#tamper;
    if (!stripHistoryTokens && !stripBasesPoint) return request;
    const url = new URL(request.url);
    if (stripHistoryTokens) url.searchParams.delete('token');
    let body = request.body;
    const pushes = url.pathname === '/v1/sync' || url.pathname === '/v1/push';
    if (body !== undefined && pushes) {
      const parsed = JSON.parse(body) as Record<string, unknown>;
      if (stripHistoryTokens && url.pathname === '/v1/sync') delete parsed['afterToken'];
      if (stripBasesPoint) delete parsed['basesAt'];
      body = JSON.stringify(parsed);
    }
    return { ...request, url: url.href, body };
  }

  #tamperAnswer(request: WireRequest, answer: WireAnswer): WireAnswer {
    const path = new URL(request.url).pathname;
    if (this.#tamper.disguiseLostHistory) {
      const text = new TextDecoder().decode(answer.bytes);
      if (answer.status === 410 && text.includes('"cursor_unknown"')) {
        const body = JSON.stringify({
          error: { code: 'history_pruned', message: 'a lost history disguised as a prune' },
        });
        return { ...answer, bytes: new TextEncoder().encode(body) };
      }
      if (answer.status === 200 && path === '/v1/snapshot') {
        const newline = text.indexOf('\n');
        const head = JSON.parse(text.slice(0, newline)) as Record<string, unknown>;
        delete head['afterHistory'];
        const rest = text.slice(newline);
        return { ...answer, bytes: new TextEncoder().encode(JSON.stringify(head) + rest) };
      }
    }
    if (this.#tamper.hideStaleBundle && answer.status === 409) {
      const text = new TextDecoder().decode(answer.bytes);
      if (text.includes('"stale_bundle"')) {
        const body = JSON.stringify({
          error: { code: 'internal', message: 'hidden stale_bundle' },
        });
        return { ...answer, status: 500, bytes: new TextEncoder().encode(body) };
      }
    }
    if (
      this.#tamper.stripDigests &&
      answer.status === 200 &&
      (path === '/v1/pull' || path === '/v1/sync')
    ) {
      const parsed = JSON.parse(new TextDecoder().decode(answer.bytes)) as {
        bundles?: Record<string, unknown>[];
        pull?: { bundles?: Record<string, unknown>[] };
      };
      for (const bundle of parsed.bundles ?? parsed.pull?.bundles ?? []) delete bundle['digest'];
      return { ...answer, bytes: new TextEncoder().encode(JSON.stringify(parsed)) };
    }
    return answer;
  }

  /** One delivery to the server; null when it is unreachable. */
  async #exchange(
    message: Message & { kind: 'request' },
    deny: boolean,
    note: string,
  ): Promise<WireAnswer | null> {
    const what = `${label(message.request)} from ${message.device.name}${note ? ` (${note})` : ''} [m${message.id}]`;
    try {
      const answer = this.#tamperAnswer(
        message.request,
        await this.#server.exchange(message.request, { deny, device: message.device.name }),
      );
      this.#hooks.trace(`server ← ${what}: ${answer.summary}`);
      return answer;
    } catch (error) {
      if (!(error instanceof ServerUnreachable)) throw error;
      this.#hooks.trace(`server is down: ${what}`);
      return null;
    }
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error
    ? reason
    : new DOMException('This operation was aborted', 'AbortError');
}

function label(request: WireRequest): string {
  const url = new URL(request.url);
  return `${request.method} ${url.pathname}${url.search}`;
}

function networkError(code: string): Error {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
}

/** The answer as the client reads it; a cut answer ends (or fails) part-way through its body. */
function responseOf(answer: WireAnswer, cut: { at: number; error: boolean } | null): Response {
  const init = {
    status: answer.status,
    headers: answer.headers.map(([k, v]) => [k, v] as [string, string]),
  };
  if (!cut) return new Response(answer.bytes.slice(), init);
  const head = answer.bytes.slice(0, cut.at);
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent && head.length > 0) {
        sent = true;
        controller.enqueue(head);
        return;
      }
      if (cut.error)
        controller.error(new TypeError('terminated', { cause: new Error('ECONNRESET') }));
      else controller.close();
    },
  });
  return new Response(body, init);
}
