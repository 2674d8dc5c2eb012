/**
 * Copies of SQLite files as a backup tool or a copied app folder holds them.
 *
 * @module
 */
import { copyFileSync, existsSync, rmSync } from 'node:fs';

/** Copies a closed SQLite file with its WAL, if any (what a backup or a copied app folder holds). */
export function copyDatabase(from: string, to: string): void {
  for (const suffix of ['-wal', '-shm']) rmSync(`${to}${suffix}`, { force: true });
  copyFileSync(from, to);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(`${from}${suffix}`)) copyFileSync(`${from}${suffix}`, `${to}${suffix}`);
  }
}
