/** The answers of `window.ferryTest` (JSON of `{ value }` or of a failure), read in Node. */
import { FerryError, type FerryErrorCode } from '@ferry/protocol';
import type { CallError } from '../page/page-entry.js';
import { untag, type Tagged } from '../page/values.js';

/** The answer's value, or its error thrown as the page saw it (a FerryError as one). */
export function answerOf(json: string): unknown {
  const answer = JSON.parse(json) as { value: Tagged } | CallError;
  if ('error' in answer) {
    const { error } = answer;
    if (error.ferry && error.code !== null) {
      throw new FerryError(error.code as FerryErrorCode, error.message);
    }
    const rebuilt = new Error(error.message) as Error & { code?: string };
    if (error.code !== null) rebuilt.code = error.code;
    throw rebuilt;
  }
  return untag(answer.value);
}
