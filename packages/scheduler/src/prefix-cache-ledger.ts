import type { PrefixCacheRow, PrefixCacheSupport } from '@dfleet/decoder';

/** One decode's cache in the denoiser. */
interface HeldCache {
  readonly cacheId: number;
  /** Canvas positions it holds; 0: none. */
  cachedLength: number;
}

/** The refreshes of one iteration's passes, counted against the byte budget together. */
export interface RefreshPlan<Decode> {
  /**
   * Positions a decode chosen for the full pass keeps as its new cache: its cacheable prefix when
   * the bytes fit beside everything held and planned so far, else 0. With 0 its old cache is freed
   * at once (stale, or over budget), so the decodes planned after it can use those bytes.
   */
  keep(decode: Decode, cacheablePrefix: number): number;
}

/**
 * The bookkeeping of Fast-dLLM's prefix cache for one StepScheduler: which cache id each decode
 * owns in the denoiser, how many positions that cache holds, and how many bytes all of them take.
 * The scheduler decides which decodes run and in which pass; this decides what each one reads
 * from and keeps in its cache, so that the caches together stay within `maxBytes` and the
 * scheduler's count matches what the denoiser holds, however a decode leaves.
 *
 * Decodes are keyed by the scheduler's own record of them, so cache ids never leave this module
 * except in the instructions sent to the denoiser.
 */
export class PrefixCacheLedger<Decode> {
  readonly #support: PrefixCacheSupport;
  readonly #maxBytes: number;
  readonly #held = new Map<Decode, HeldCache>();
  #nextCacheId = 0;
  #bytes = 0;

  constructor(support: PrefixCacheSupport, maxBytes: number) {
    this.#support = support;
    this.#maxBytes = maxBytes;
  }

  /** Bytes the caches of the decodes alive take in the denoiser now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** A decode joins holding nothing, with a cache id no other decode of this scheduler had. */
  join(decode: Decode): void {
    this.#held.set(decode, { cacheId: this.#nextCacheId++, cachedLength: 0 });
  }

  /**
   * Positions the decode's next pass reads from its cache: all of it when it holds exactly the
   * cacheable prefix (a `cached` pass runs only the window after it), else 0 (a `full` pass).
   * A cache shorter or longer than the prefix belongs to a block the decode has left.
   */
  readableLength(decode: Decode, cacheablePrefix: number): number {
    const { cachedLength } = this.#get(decode);
    return cachedLength > 0 && cachedLength === cacheablePrefix ? cachedLength : 0;
  }

  /** Starts planning one iteration: its refreshes are all in the denoiser before the next one plans. */
  planRefreshes(): RefreshPlan<Decode> {
    const { bytesPerPosition } = this.#support;
    // What the caches will take once this iteration's passes kept what they plan to.
    let plannedBytes = this.#bytes;
    return {
      keep: (decode, cacheablePrefix) => {
        const held = this.#get(decode);
        // A refresh replaces the decode's own cache, so only the others' bytes stand in its way.
        const others = plannedBytes - held.cachedLength * bytesPerPosition;
        if (cacheablePrefix > 0 && others + cacheablePrefix * bytesPerPosition <= this.#maxBytes) {
          plannedBytes += (cacheablePrefix - held.cachedLength) * bytesPerPosition;
          return cacheablePrefix;
        }
        const before = this.#bytes;
        this.#free(held);
        plannedBytes -= before - this.#bytes;
        return 0;
      },
    };
  }

  /** What the denoiser is told to do with the decode's cache in this row. */
  instruction(decode: Decode, cachedLength: number, keepLength: number): PrefixCacheRow {
    return { cacheId: this.#get(decode).cacheId, cachedLength, keepLength };
  }

  /** After a pass that ran: a row with a `keepLength` now holds that much in the denoiser. */
  kept(decode: Decode, keepLength: number): void {
    if (keepLength === 0) return;
    const held = this.#get(decode);
    this.#bytes += (keepLength - held.cachedLength) * this.#support.bytesPerPosition;
    held.cachedLength = keepLength;
  }

  /** A decode left the batch, however it ended: its cache goes with it. */
  left(decode: Decode): void {
    const held = this.#held.get(decode);
    if (held === undefined) return;
    this.#held.delete(decode);
    this.#free(held);
    // Also when it held none here: a refresh whose pass failed may have left one in the
    // denoiser (releasing an unknown id is a no-op).
    this.#support.release(held.cacheId);
  }

  #free(held: HeldCache): void {
    if (held.cachedLength === 0) return;
    this.#support.release(held.cacheId);
    this.#bytes -= held.cachedLength * this.#support.bytesPerPosition;
    held.cachedLength = 0;
  }

  #get(decode: Decode): HeldCache {
    const held = this.#held.get(decode);
    // Only a scheduler bug gets here: every decode joins when submitted and is asked about only until it leaves.
    if (held === undefined)
      throw new Error('prefix-cache ledger: asked about a decode that never joined or already left');
    return held;
  }
}
