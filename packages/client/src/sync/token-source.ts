import { FerryError } from '@ferry/protocol';
import type { GetTokenOptions } from '../types.js';

/**
 * The app's `getToken`, remembering the last token it gave, so that after a 401 a forced
 * refresh can tell whether it got a new token or the refused one again.
 */
export class TokenSource {
  readonly #getToken: (options?: GetTokenOptions) => string | Promise<string>;
  #last: string | null = null;

  constructor(getToken: (options?: GetTokenOptions) => string | Promise<string>) {
    this.#getToken = getToken;
  }

  /** Asks the app for the token (what the transport and the events stream call). */
  readonly get = async (options?: GetTokenOptions): Promise<string> => {
    const token = await this.#getToken(options);
    if (typeof token === 'string' && token.length > 0) this.#last = token;
    return token;
  };

  /**
   * After a 401: asks the app for a fresh token once. True when it differs from the refused
   * one (the scheduler then resumes and reconnects the events stream); a `getToken` that throws
   * is `unauthorized`.
   */
  async refresh(): Promise<boolean> {
    const refused = this.#last;
    let token: string;
    try {
      token = await this.#getToken({ forceRefresh: true });
    } catch (error) {
      throw new FerryError(
        'unauthorized',
        `getToken({ forceRefresh: true }) failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    if (typeof token !== 'string' || token.length === 0) return false;
    this.#last = token;
    return token !== refused;
  }
}
