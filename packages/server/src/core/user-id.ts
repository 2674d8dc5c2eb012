/** The longest user id, in Unicode code points. */
export const MAX_USER_ID_LENGTH = 255;

/** Outcome of {@link checkUserId}. */
export type UserIdCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Whether `value` may be a user id (a token's `sub`, an `authenticate` hook's `userId`, the user
 * of a backend write). Pure.
 *
 * A user id is compared byte for byte by every store, so it must mean the same string to all of
 * them:
 * 1. a string of 1 to {@link MAX_USER_ID_LENGTH} code points;
 * 2. well-formed Unicode: no unpaired surrogate (a PostgreSQL driver binds one as U+FFFD, so
 *    "\ud800" would be the user "\ufffd");
 * 3. no control character (C0, DEL, C1): NUL cannot be stored in PostgreSQL text, and none of
 *    them belongs in an identifier that is logged.
 */
export function checkUserId(value: unknown): UserIdCheck {
  if (typeof value !== 'string' || value.length === 0) {
    return { ok: false, reason: 'the user id must be a non-empty string' };
  }
  if (LONE_SURROGATE.test(value)) {
    return { ok: false, reason: 'the user id is not well-formed Unicode (unpaired surrogate)' };
  }
  if (CONTROL.test(value)) {
    return { ok: false, reason: 'the user id contains a control character' };
  }
  // Code points are counted only when the code units alone allow too many.
  if (value.length > MAX_USER_ID_LENGTH && [...value].length > MAX_USER_ID_LENGTH) {
    return {
      ok: false,
      reason: `the user id is longer than ${MAX_USER_ID_LENGTH} characters`,
    };
  }
  return { ok: true };
}

/** An unpaired surrogate code unit (no `u` flag: it must see code units). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** C0 controls, DEL and C1 controls (Unicode general category Cc). */
const CONTROL = /\p{Cc}/u;
