import { createHash } from 'node:crypto';
import { bundleDigest } from '@ferry/protocol';

/**
 * What a history token covers of one bundle: its place in the user's history and its content,
 * as the store keeps it (`rowsJson` is the exact text a pull sends).
 */
export interface TokenedBundle {
  readonly bundleSeq: number;
  readonly sourceId: string | null;
  readonly sourceBundleId: number | null;
  readonly rowsJson: string;
}

/**
 * The "previous token" of a user's first bundle on a server (and of the first bundle after an
 * upgrade from a version without tokens): hex sha-256 of
 * `"ferry-history\n" + serverId + "\n" + userId`. Every history starts from the identity of
 * the database that keeps it, so two databases never share a token.
 */
export function genesisToken(serverId: string, userId: string): string {
  return sha256Hex(`ferry-history\n${serverId}\n${userId}`);
}

/**
 * The history token of a bundle: hex sha-256 of the previous bundle's token, the bundleSeq,
 * the sourceId (empty for a backend bundle), the sourceBundleId (empty) and the row effects'
 * JSON, joined by newlines. A token thereby names the user's whole history up to its bundle.
 *
 * The PostgreSQL store computes the same function in SQL inside `seal()`
 * (`postgres-ddl.ts`); the store contract checks both against this one.
 */
export function nextHistoryToken(previous: string, bundle: TokenedBundle): string {
  return sha256Hex(
    `${previous}\n${bundle.bundleSeq}\n${bundle.sourceId ?? ''}\n${bundle.sourceBundleId ?? ''}\n${bundle.rowsJson}`,
  );
}

/** Hex sha-256 of the UTF-8 text, by `node:crypto`. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** {@link bundleDigest} of a push's changes, hashed natively. */
export function pushDigest(changes: readonly unknown[]): string {
  return bundleDigest(changes, sha256Hex);
}
