/**
 * Realtime: the client of the server's `GET /v1/events` Server-Sent Events stream. A poke is
 * a hint to pull; correctness never depends on it, and the scheduler's periodic sync covers
 * the time the stream is down.
 *
 * @example
 * import { createEventsSubscription } from './realtime/index.js';
 * const events = createEventsSubscription({
 *   url: 'http://127.0.0.1:8787/v1/events',
 *   getToken: () => token,
 *   onPoke: (bundleSeq) => scheduler.poke(bundleSeq),
 *   onConnectionChange: (connected) => scheduler.setRealtimeConnected(connected),
 * });
 *
 * @module
 */
export {
  DEFAULT_EVENTS_BACKOFF,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  createEventsSubscription,
  parseRetryAfter,
} from './events-subscription.js';
export type {
  EventsSubscription,
  EventsSubscriptionOptions,
  EventsSubscriptionStatus,
} from './events-subscription.js';

export { createSseParser } from './sse-parser.js';
export type { SseItem, SseParser } from './sse-parser.js';
