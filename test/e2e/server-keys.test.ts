import { afterEach, describe, it } from 'vitest';
import { startHarness, type Harness } from '../support/ferry-harness.js';
import { copyDatabase } from '../support/copy-database.js';
import {
  backendInsertsShareTheSequence,
  editsInFlightFollowTheKey,
  lostAnswerGivesTheSameKeys,
  offlineDevicesNeverCollide,
  offlineTreeTakesServerKeys,
  positiveTemporaryKeyIsRefused,
  copiedFilesFollowTheirTwin,
  deadLettersKeepTemporaryKeys,
  loggingHooks,
  projectHooks,
  projectSchema,
  type ProjectSchema,
} from '../support/server-keys-scenario.js';

describe('server-assigned keys over HTTP', () => {
  let h: Harness<ProjectSchema>;
  afterEach(async () => {
    await h.close();
  });
  const start = async () => {
    h = await startHarness<ProjectSchema>({ schema: projectSchema });
  };

  it('rows created offline under temporary keys, with children, take the server keys in one sync and everywhere the file names them', async () => {
    await start();
    await offlineTreeTakesServerKeys(h);
  });

  it('edits made while the insert is in flight follow the row to its server key', async () => {
    await start();
    await editsInFlightFollowTheKey(h);
  });

  it('a lost answer is replayed with the same keys and inserts nothing twice', async () => {
    await start();
    await lostAnswerGivesTheSameKeys(h);
  });

  it('devices that create rows offline never collide', async () => {
    await start();
    await offlineDevicesNeverCollide(h);
  });

  it('a row the server refuses stays a dead letter under its temporary key, its child waits with it, and both take server keys when it is retried', async () => {
    h = await startHarness<ProjectSchema>({
      schema: projectSchema,
      server: { hooks: projectHooks },
    });
    await deadLettersKeepTemporaryKeys(h);
  });

  it('copied files: a copy that undid the insert deletes the row its twin pushed, one that kept it gets the same key', async () => {
    await start();
    await copiedFilesFollowTheirTwin(h, copyDatabase);
  });

  it('a new row named by a positive integer key is refused with temporary_key', async () => {
    await start();
    await positiveTemporaryKeyIsRefused(h);
  });

  it('backend inserts take keys from the same sequence as devices, in server.write and beforeCommit', async () => {
    h = await startHarness<ProjectSchema>({
      schema: projectSchema,
      server: { hooks: loggingHooks },
    });
    await backendInsertsShareTheSequence(h);
  });
});
