import type { Executor } from './metadata.js';
import { writeState } from './metadata.js';

/**
 * The user the file belongs to: null until the first token names one, then that user for good
 * (kept in `ferry_state.user_id`). Writes stamp the owner column with it.
 */
export class FileUser {
  #id: string | null;

  constructor(id: string | null) {
    this.#id = id;
  }

  get id(): string | null {
    return this.#id;
  }

  /** Makes `userId` the file's user, in the file first. */
  async remember(db: Executor, userId: string): Promise<void> {
    await writeState(db, 'user_id', userId);
    this.#id = userId;
  }
}
