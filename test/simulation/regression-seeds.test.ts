/**
 * Seeds that found engine bugs (each fixed in the engine and reproduced on purpose in
 * engine-fixes.test.ts). They replay the runs that failed as long as the simulator's choices
 * stay the same; kept so that every bug the simulator found runs again in CI.
 */
import { describe, expect, it } from 'vitest';
import { todoSchema, todoV2 } from '@ferry/example-todo';
import { runSimulation } from '@ferry/sim';

/**
 * Seed, what it found, and whether it ran with the identity workloads (they came later; absent:
 * without them; `drawn`: as the seed draws them by default; `upgrade`: drawn, with the upgrade
 * workload to todo version 2 on; `upgrade-drawn`: drawn, the upgrade workload too, as the CLI
 * and CI run them; `counters`: as `upgrade-drawn`, with the counter workload on, as
 * `npm run sim -- --counters` runs them; `all-drawn`: every workload as the seed draws it, as
 * `npm run sim` runs them now).
 */
const REGRESSIONS: [
  number,
  string,
  (boolean | 'drawn' | 'upgrade' | 'upgrade-drawn' | 'counters' | 'all-drawn')?,
][] = [
  [
    5,
    'a conflict settled before the capture log was folded lost an edit made in flight; the edit then re-created a deleted row',
  ],
  [
    13,
    'a bundle committed at or below the checkpoint, cut short by a crash before it was settled, blocked the outbox for good',
  ],
  [
    1089,
    'a late acknowledgement released the pin a newer remote delete had set, and the pending edit re-created the row',
  ],
  [
    412252115,
    'a hydration pinned an edit made on a row in flight to a tombstone, and the edit re-created the row',
  ],
  [
    957857759,
    'an edit stacked on a change in flight kept the pin a hydration gave it after the change was rebased and committed, and met our own commit as a conflict',
  ],
  [
    670382813,
    'the simulator took a discarded dead letter for a sign that the write before it never committed, and reported the rows that write deleted as lost',
  ],
  [
    90,
    'a conflict with a remote delete, resolved for the local row after a snapshot, went out as a new row and met the tombstone again',
  ],
  [
    153,
    'a conflict with a remote delete, resolved for the local row after a snapshot, went out as a new row and met the tombstone again',
  ],
  [
    210,
    'a bundle whose commit the server lost in a restore from a backup stayed in flight for good: the restored history matched the checkpoint but never reached the commit',
    'drawn',
  ],
  [
    463,
    'a 410 cursor_unknown cut short on the way was taken for a mere failure: the hydration that followed kept a tombstone of the lost history, above the version the row then got, and the row vanished',
    'drawn',
  ],
  [
    358,
    'the simulator did not count the push of a copied file for the original’s write, when the copy pushed the bundle in flight both files held and the original acknowledged it',
    'drawn',
  ],
  [
    538,
    'an app’s hydrate() on a server restored from a backup kept tombstones of the lost history; the row came back at a lower version, was taken for deleted, and the integrity gate refused its children for good',
    'drawn',
  ],
  [
    635,
    'the simulator took a write still running when a file was backed up for one the restore took away, and asked for a push of the earlier value it covered',
    'drawn',
  ],
  [
    528,
    'a file restored from a backup that held an unpushed insert (pushed after the backup) folded the app’s delete of that row away, and the row stayed on the server',
    'drawn',
  ],
  [
    1579,
    'a file restored from a backup that held an unpushed insert (pushed after the backup) folded the app’s delete of that row away, and the row stayed on the server',
    'drawn',
  ],
  [
    1901,
    'the simulator counted a refused push of a re-insert as carrying it, and asked for the delete that undid it, unpushed, to reach the server',
    'drawn',
  ],
  [
    890657980,
    'a rotation deleted again a cancelled insert whose row the app had updated meanwhile (the update was still in the capture log, not yet in the outbox), and the update was lost',
    'drawn',
  ],
  [
    890658510,
    'a rotation deleted again a cancelled insert whose row a pull had brought back and the app had built on (a todo under the list), and the cascade took the todo',
    'drawn',
  ],
  [
    890658533,
    'after a server restore, an edit pinned to a live version of the lost history matched the new history’s tombstone at the same version, and its push re-created the deleted row unchallenged',
    'drawn',
  ],
  [
    890659080,
    'after a server restore, an edit pinned to a live version of the lost history matched the new history’s tombstone at the same version, and its push re-created the deleted row unchallenged',
    'drawn',
  ],
  [
    890659086,
    'a retried dead letter made an insert entry again for a row the server had alive by then (the copy’s twin pushed it); the app’s delete folded it to nothing, and the delete never went out',
    'drawn',
  ],
  [
    1064,
    'a rotation deleted again a cancelled insert that the app had just inserted again (the re-insert still in the capture log), and the re-insert was lost',
    'drawn',
  ],
  [
    457,
    'a prune whose 410 was cut short, read as a certain loss of history, dropped the versions of every pending change, and each met a spurious conflict',
    'drawn',
  ],
  [
    945,
    'a prune whose 410 was cut short, read as a certain loss of history, dropped the versions of every pending change, and each met a spurious conflict',
    'drawn',
  ],
  [
    2416,
    'the simulator did not let a copied file inherit the app’s resolution of a conflict (keep its row) made before the copy, and took the copy’s push of that row for a resurrection',
    'drawn',
  ],
  [
    3197,
    'the simulator did not let a copied file inherit the app’s resolution of a conflict (keep its row) made before the copy, and took the copy’s push of that row for a resurrection',
    'drawn',
  ],
  [
    3876,
    'a client restored from a backup undid an insert its past had pushed; a snapshot brought the row back before the rotation, which then kept it, and the delete never went out',
    'drawn',
  ],
  [
    4385,
    'a restored client rotated with an insert its past had pushed still pending, then undid it (folded to nothing) before it hydrated, and the delete never went out',
    'drawn',
  ],
  [
    4612,
    'a restored client undid an insert its past had pushed, and a snapshot brought the row back before the rotation, which kept it: the delete never went out',
    'drawn',
  ],
  [
    4992,
    'the simulator did not let a write still running when a file was copied cover an earlier write of the same column in the copy',
    'drawn',
  ],
  [
    283034940,
    'a pull of another device’s bundle deleted again a row the file had undone, although that device had written the row anew (resolving a conflict for its own row): the file’s delete went out on a forgotten base',
    'drawn',
  ],
  [
    644852060,
    'a rotation kept a row a restored file had undone, which a snapshot had brought back, because other devices’ todos referenced it: only children the app wrote since show it built on the row',
    'drawn',
  ],
  [
    811800,
    'the simulator took a write cut by a crash for one that never committed when a push had carried it and a conflict’s policy had since replaced its values in the file',
    'drawn',
  ],
  [
    111,
    'resolving a manual conflict met on a history the server lost pinned the change to that history’s version of the row (found by invariant k, foreign-base)',
    'drawn',
  ],
  [
    2689,
    'after a restore of the server that kept the checkpoint but lost our commit past it, the bundle went out again on versions a conflict answer of the lost history had given it (found by invariant k, foreign-base)',
    'drawn',
  ],
  [
    3269,
    'a conflict answer gave versions above the checkpoint just before the server was restored from a backup taken after the checkpoint; the next push carried one of the lost history as its base (found by invariant k, foreign-base; fixed by the bases point, basesAt)',
    'drawn',
  ],
  [
    4322,
    'the same as 3269 on a push of new lists: versions a conflict answer of the lost history had given went out as bases to the restored server',
    'drawn',
  ],
  [
    918274923,
    'the simulator expected a device to catch up after a long outage although its client had stopped on a refused token (blocked-auth) before it; like any stop the client shows, the app now signs in again first',
    'drawn',
  ],
  [
    812134,
    'after a restore of the server, a hydration whose snapshot had passed the file’s checkpoint kept the versions of the lost history, and an edit on an old live version equal to a new tombstone’s re-created the row (a cut 410 had been guessed to be a prune)',
    'drawn',
  ],
  [
    126,
    'a bundle committed just before the app was updated was acknowledged late, after the hydration the update asked for; the snapshot lacked a row it had upserted (deleted since), and the row kept an older version than our commit, which a later re-insert went out on',
    'upgrade',
  ],
  [
    165,
    'a manual conflict kept across an update of the app was resolved with the row the app was shown, which lacked the new not-null column: the client wrote null into it and failed',
    'upgrade',
  ],
  [
    1502,
    'a conflict settled client-wins after an update of the app pushed the row the file kept from before the update, with null for the column the update added: a not-null column was refused, a nullable one would have been reset',
    'upgrade-drawn',
  ],
  [
    3341,
    'a conflict settled client-wins after an update of the app wrote the local row the file kept from before the update into the migrated table, with null for the column the update added',
    'upgrade-drawn',
  ],
  [
    3311,
    'the simulator took a re-insert, made after the device saw a delete and pushed after the row had lived and died again and its tombstone was purged, for a resurrection; the server can no longer tell (documented in protocol.md)',
    'upgrade-drawn',
  ],
  [
    1102,
    'a change that wrote only a counter committed over a version whose parent its own bundle deleted: the cascade deleted the row, and an increment stacked on the change re-created it as if the app had seen the delete',
    'counters',
  ],
  [
    1114,
    'increments that cancel out pushed no delta, after a settlement moved the counter by peers’ increments: the ledger took the write for lost (it now accounts a counter by any later push of its row, and sums increments end to end)',
    'counters',
  ],
  [
    707,
    'a first fix of seed 1102 pinned an edit stacked on a change acknowledged late to no base when the file had since learned of a delete; the row was re-created by the device and the edit went out on no base, older than its own commit',
    'all-drawn',
  ],
  [
    1763,
    'an edit stacked on a change acknowledged late was pinned to our commit but its counter was rebased onto the newer state the file had hydrated: its next delta carried a peer’s increment again (counted twice)',
    'all-drawn',
  ],
  [
    2234,
    'the simulator took a set of a counter (not an increment) that a crash interrupted for a write that never committed, since it ignored every counter column as evidence; the counter sum then missed it (an oracle fix)',
    'all-drawn',
  ],
  [
    4286,
    'after a restore of the server, an edit made on a base row whose version went with the lost history (baseVersion null, with columns) re-created a row the restored history had deleted and whose tombstone retention had purged: the server took it for an insert',
    'all-drawn',
  ],
  [
    4337,
    'an increment a crash (for an app update) interrupted left no evidence in the file, so the simulator guessed it never committed; it had, the app was told so a moment later, and the counter sum missed it (an oracle fix: a resolution after the guess counts, and a guessed write keeps its counter out of the sum)',
    'all-drawn',
  ],
];

describe('regression seeds', () => {
  it.each(REGRESSIONS)('seed %i: %s', { timeout: 120_000 }, async (seed, _found, identity) => {
    const result = await runSimulation({
      schema: todoSchema,
      seed,
      // As they were found: before the counter workload existed, or with it.
      ...(identity === 'all-drawn' ? {} : { counters: identity === 'counters' }),
      ...(identity === 'drawn' ||
      identity === 'upgrade' ||
      identity === 'upgrade-drawn' ||
      identity === 'counters' ||
      identity === 'all-drawn'
        ? {}
        : { identity: identity ?? false }),
      ...(identity === 'upgrade' ? { upgrade: todoV2, upgrades: true } : {}),
      ...(identity === 'upgrade-drawn' || identity === 'counters' || identity === 'all-drawn'
        ? { upgrade: todoV2 }
        : {}),
    });
    expect(result.violations).toEqual([]);
  });
});
