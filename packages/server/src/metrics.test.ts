import { describe, expect, it } from 'vitest';
import { createServerMetrics } from './metrics.js';

describe('server metrics', () => {
  it('names the process metrics ferry_process_… and ferry_nodejs_…, never with a repeated prefix', async () => {
    const text = await createServerMetrics().registry.metrics();
    expect(text).toMatch(/^ferry_process_cpu_user_seconds_total \S+$/m);
    expect(text).toMatch(/^ferry_nodejs_heap_size_used_bytes \S+$/m);
    expect(text).not.toMatch(/process_process|nodejs_nodejs/);
    expect(text).toMatch(/^# TYPE ferry_http_requests_total counter$/m);
  });

  it('gives every server the one set of process metrics and its own server metrics', async () => {
    const a = createServerMetrics();
    const b = createServerMetrics();
    for (const name of [
      'ferry_process_cpu_user_seconds_total',
      'ferry_nodejs_gc_duration_seconds',
    ]) {
      expect(a.registry.getSingleMetric(name)).toBeDefined();
      expect(a.registry.getSingleMetric(name)).toBe(b.registry.getSingleMetric(name));
    }
    a.requests.inc({ route: 'pull', status: '200' });
    expect(a.registry.getSingleMetric('ferry_http_requests_total')).not.toBe(
      b.registry.getSingleMetric('ferry_http_requests_total'),
    );
    expect(await b.registry.metrics()).not.toContain('route="pull"');
  });
});
