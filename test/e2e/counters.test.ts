import { afterEach, describe, it } from 'vitest';
import { startHarness, type Harness } from '../support/ferry-harness.js';
import {
  appendOnlyRows,
  countersConverge,
  manualClientKeepsIncrements,
  shopSchema,
  type ShopSchema,
} from '../support/counters-scenario.js';

describe('counters and append-only tables over HTTP', () => {
  let h: Harness<ShopSchema>;
  afterEach(async () => {
    await h.close();
  });

  it('three devices that add to one counter offline, in flight and across a merge end with the first value plus every increment', async () => {
    h = await startHarness<ShopSchema>({ schema: shopSchema });
    await countersConverge(h);
  });

  it('an append-only table takes inserts and deletes and refuses an update at the write', async () => {
    h = await startHarness<ShopSchema>({ schema: shopSchema });
    await appendOnlyRows(h);
  });

  it('a manual conflict settled with the local row keeps both devices’ increments', async () => {
    h = await startHarness<ShopSchema>({ schema: shopSchema });
    await manualClientKeepsIncrements(h);
  });
});
