import { FerryError } from '@ferry/protocol';
import { describe, expect, it } from 'vitest';
import { ClientObserver, type ClientEvent } from './client-observer.js';
import { initialEngineStatus } from './client-status.js';

const initial = initialEngineStatus({
  sourceId: '00000000-0000-4000-8000-000000000001',
  userId: null,
  online: true,
  foreground: true,
  storage: 'memory',
});

describe('ClientObserver', () => {
  it('publishes every status change as one merged status event', () => {
    const observer = new ClientObserver(initial, { realtime: false });
    const events: ClientEvent[] = [];
    observer.subscribe((event) => events.push(event));
    observer.setStatus({ pending: 3 });
    expect(observer.status.pending).toBe(3);
    expect(observer.status.autoSync).toBe(false);
    expect(events).toEqual([{ type: 'status', status: observer.status }]);
  });

  it('hands a throwing listener to onError as internal and still reaches the other listeners', () => {
    const errors: FerryError[] = [];
    const observer = new ClientObserver(initial, {
      realtime: false,
      onError: (error) => errors.push(error),
    });
    const seen: string[] = [];
    observer.subscribe(() => {
      throw new Error('boom');
    });
    observer.subscribe((event) => seen.push(event.type));
    observer.emit({ type: 'write', tables: ['todos'] });
    expect(seen).toEqual(['write']);
    expect(errors.map((e) => e.code)).toEqual(['internal']);
  });

  it('keeps an onLog or onError that throws away from the caller', () => {
    const observer = new ClientObserver(initial, {
      realtime: false,
      onLog: () => {
        throw new Error('log sink down');
      },
      onError: () => {
        throw new Error('error sink down');
      },
    });
    expect(() => observer.log('info', 'pulled', 'applied', {})).not.toThrow();
    expect(() => observer.reportError(new FerryError('network', 'x'))).not.toThrow();
  });

  it('counts the same listener subscribed twice as two subscriptions, each with its own unsubscribe', () => {
    const observer = new ClientObserver(initial, { realtime: false });
    let calls = 0;
    const listener = () => calls++;
    const first = observer.subscribe(listener);
    observer.subscribe(listener);
    first();
    observer.emit({ type: 'write', tables: ['todos'] });
    expect(calls).toBe(1);
    observer.unsubscribeAll();
    observer.emit({ type: 'write', tables: ['todos'] });
    expect(calls).toBe(1);
  });
});
