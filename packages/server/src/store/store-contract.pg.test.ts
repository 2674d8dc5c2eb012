/**
 * The ServerStore contract over every store, with describe.each: SQLite always, PostgreSQL
 * when it answers (and under CI=true, where a missing database fails the run).
 */
import { expect, it } from 'vitest';
import { describeStoreContract, type StoreFactory } from '../test-support/store-contract.js';
import { sqliteFileFactory } from '../test-support/store-factories.js';
import { postgresFactory } from './postgres/test-support/pg-store-factory.js';
import { PG_AVAILABLE, describePg } from './postgres/test-support/pg-test-database.js';

const factories: StoreFactory[] = [sqliteFileFactory];
if (PG_AVAILABLE) factories.push(postgresFactory);

describeStoreContract(factories);

describePg('the contract on PostgreSQL', () => {
  it('runs over both stores', () => {
    expect(factories.map((f) => f.name)).toEqual(['SQLite', 'PostgreSQL']);
  });
});
