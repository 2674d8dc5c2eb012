/** Caps on how many of one kind of long answer run at once. */
export interface ConcurrencyCaps {
  /** At most this many per user. */
  readonly perUser: number;
  /** At most this many for all users together. */
  readonly total: number;
}

/** Outcome of {@link decideAdmission}. */
export type Admission =
  | { readonly ok: true }
  /** `user`: the user has their share (429); `total`: the server is full (503). */
  | { readonly ok: false; readonly reason: 'user' | 'total' };

/**
 * Whether one more may start, given how many run now for the user and in total. Pure.
 *
 * | running for the user | running in total | admission            |
 * | -------------------- | ---------------- | -------------------- |
 * | ≥ perUser            | any              | refused: `user`      |
 * | < perUser            | ≥ total          | refused: `total`     |
 * | < perUser            | < total          | admitted             |
 */
export function decideAdmission(
  running: { readonly user: number; readonly total: number },
  caps: ConcurrencyCaps,
): Admission {
  if (running.user >= caps.perUser) return { ok: false, reason: 'user' };
  if (running.total >= caps.total) return { ok: false, reason: 'total' };
  return { ok: true };
}

/** A slot taken from a {@link ConcurrencyLimiter}; `release` is idempotent. */
export interface Lease {
  release(): void;
}

/**
 * Counts what runs per user and in total, and admits by {@link decideAdmission}. One user can
 * thereby hold at most `perUser` of the slots, and never all of them unless `perUser ≥ total`.
 */
export class ConcurrencyLimiter {
  readonly #caps: ConcurrencyCaps;
  readonly #byUser = new Map<string, number>();
  #total = 0;

  constructor(caps: ConcurrencyCaps) {
    this.#caps = caps;
  }

  /** Slots taken, all users. */
  get running(): number {
    return this.#total;
  }

  /** Takes a slot for `userId`, or says why not. */
  tryAcquire(
    userId: string,
  ):
    | { readonly ok: true; readonly lease: Lease }
    | { readonly ok: false; readonly reason: 'user' | 'total' } {
    const admission = decideAdmission(
      { user: this.#byUser.get(userId) ?? 0, total: this.#total },
      this.#caps,
    );
    if (!admission.ok) return admission;
    this.#byUser.set(userId, (this.#byUser.get(userId) ?? 0) + 1);
    this.#total++;
    let released = false;
    return {
      ok: true,
      lease: {
        release: () => {
          if (released) return;
          released = true;
          this.#total--;
          const left = (this.#byUser.get(userId) ?? 1) - 1;
          if (left === 0) this.#byUser.delete(userId);
          else this.#byUser.set(userId, left);
        },
      },
    };
  }
}
