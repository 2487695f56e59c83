/**
 * Load-adaptive decoding for the `threshold` strategy (Fast-dLLM's confidence threshold).
 *
 * A lower threshold commits more positions per forward pass, so a job needs fewer steps and the
 * worker finishes more jobs per second, at some cost in quality. When jobs have waited in the
 * queue longer than a target, the policy lowers the threshold of the jobs it claims next, one
 * step at a time; as waits fall it gives the steps back. The signal is the queue wait of claimed
 * jobs (claim time - acceptedAt), smoothed with an exponentially weighted moving average: it is
 * what a client feels, and every worker measures it on its own, without polling Redis. The
 * average forgets with time as well as with claims (a new observation weighs at least
 * 1 - exp(-gap / memoryMs)), so after a quiet spell the first claim speaks for the queue as it is.
 *
 * Rule, on each observation (level changes at most once per `minDwellMs`):
 * - smoothed wait > targetWaitMs                    -> level + 1 (threshold lowered by one more step)
 * - smoothed wait < targetWaitMs x restoreFraction  -> level - 1 per full `minDwellMs` since the
 *                                                      last change (step by step under steady
 *                                                      claims, all at once after a quiet spell)
 * - in between                                      -> hold (the gap is the hysteresis)
 * A job's threshold = requested - level x stepSize, never below its floor (the request's
 * `minThreshold`, else `defaultFloor`) and never above what it asked for.
 *
 * Pure: time comes in as an argument, so tests drive it without clocks.
 */
export interface AdaptiveThresholdPolicyOptions {
  /** Smoothed queue wait above which the threshold is lowered. @defaultValue 500 */
  readonly targetWaitMs?: number;
  /** Below targetWaitMs x this the threshold is restored step by step; in (0, 1). @defaultValue 0.5 */
  readonly restoreFraction?: number;
  /** How much one level lowers the threshold. @defaultValue 0.05 */
  readonly stepSize?: number;
  /** Upper bound on the total lowering (levels x stepSize). @defaultValue 0.4 */
  readonly maxOffset?: number;
  /** Floor for requests that set none. @defaultValue 0.5 */
  readonly defaultFloor?: number;
  /** Weight of a new observation in the moving average, in (0, 1]. @defaultValue 0.3 */
  readonly smoothing?: number;
  /** Minimum time between two level changes, so a burst of claims does not jump many levels. @defaultValue 500 */
  readonly minDwellMs?: number;
  /** Time over which the average forgets: after this long without claims the old average weighs 1/e. @defaultValue 2000 */
  readonly memoryMs?: number;
}

export const ADAPTIVE_THRESHOLD_DEFAULTS = {
  targetWaitMs: 500,
  restoreFraction: 0.5,
  stepSize: 0.05,
  maxOffset: 0.4,
  defaultFloor: 0.5,
  smoothing: 0.3,
  minDwellMs: 500,
  memoryMs: 2_000,
} as const satisfies Required<AdaptiveThresholdPolicyOptions>;

export interface AdaptiveThresholdState {
  /** Smoothed queue wait in ms; null before the first observation. */
  readonly smoothedWaitMs: number | null;
  readonly level: number;
  /** level x stepSize: how much a job's threshold is lowered now (before its floor). */
  readonly offset: number;
}

export class AdaptiveThresholdPolicy {
  readonly #options: Required<AdaptiveThresholdPolicyOptions>;
  readonly #maxLevel: number;
  #smoothedWaitMs: number | null = null;
  #level = 0;
  #lastChangeAt = Number.NEGATIVE_INFINITY;
  #lastObservedAt = Number.NEGATIVE_INFINITY;

  constructor(options: AdaptiveThresholdPolicyOptions = {}) {
    const o = { ...ADAPTIVE_THRESHOLD_DEFAULTS, ...options };
    requireRange('targetWaitMs', o.targetWaitMs, 0, Number.POSITIVE_INFINITY, { minOpen: true });
    requireRange('restoreFraction', o.restoreFraction, 0, 1, { minOpen: true, maxOpen: true });
    requireRange('stepSize', o.stepSize, 0, 1, { minOpen: true });
    requireRange('maxOffset', o.maxOffset, 0, 1);
    // A floor of 0 would let tau reach 0, outside the threshold strategy's range (0, 1].
    requireRange('defaultFloor', o.defaultFloor, 0, 1, { minOpen: true });
    requireRange('smoothing', o.smoothing, 0, 1, { minOpen: true });
    requireRange('minDwellMs', o.minDwellMs, 0, Number.POSITIVE_INFINITY);
    requireRange('memoryMs', o.memoryMs, 0, Number.POSITIVE_INFINITY, { minOpen: true });
    this.#options = o;
    // The epsilon keeps 0.4 / 0.05 from rounding down to 7 levels.
    this.#maxLevel = Math.floor(o.maxOffset / o.stepSize + 1e-9);
  }

  get state(): AdaptiveThresholdState {
    return { smoothedWaitMs: this.#smoothedWaitMs, level: this.#level, offset: this.#level * this.#options.stepSize };
  }

  /** Feeds one claimed job's queue wait (claim time - acceptedAt) observed at `now` (epoch ms). */
  observeQueueWait(waitMs: number, now: number): void {
    const wait = Math.max(0, waitMs);
    const { smoothing, targetWaitMs, restoreFraction, minDwellMs, memoryMs } = this.#options;
    const gap = Math.max(0, now - this.#lastObservedAt);
    const weight = Math.max(smoothing, 1 - Math.exp(-gap / memoryMs));
    this.#smoothedWaitMs =
      this.#smoothedWaitMs === null ? wait : this.#smoothedWaitMs + weight * (wait - this.#smoothedWaitMs);
    this.#lastObservedAt = Math.max(this.#lastObservedAt, now);
    const sinceChange = now - this.#lastChangeAt;
    if (sinceChange < minDwellMs) return;
    if (this.#smoothedWaitMs > targetWaitMs && this.#level < this.#maxLevel) {
      this.#level++;
      this.#lastChangeAt = now;
    } else if (this.#smoothedWaitMs < targetWaitMs * restoreFraction && this.#level > 0) {
      const dwellsPassed = minDwellMs === 0 ? 1 : Math.floor(sinceChange / minDwellMs);
      this.#level = Math.max(0, this.#level - dwellsPassed);
      this.#lastChangeAt = now;
    }
  }

  /**
   * The threshold a job claimed now decodes with: `requested` lowered by the current offset,
   * clamped to [min(floor, requested), requested] where floor = `minThreshold` ?? defaultFloor.
   */
  thresholdFor(requested: number, minThreshold?: number): number {
    const floor = Math.min(minThreshold ?? this.#options.defaultFloor, requested);
    const lowered = requested - this.#level * this.#options.stepSize;
    // Rounded so 0.9 - 0.05 x 2 reads 0.8, not 0.7999999999999999, in results.
    return Math.min(requested, Math.max(floor, Math.round(lowered * 1e6) / 1e6));
  }
}

function requireRange(
  name: string,
  value: number,
  min: number,
  max: number,
  { minOpen = false, maxOpen = false }: { minOpen?: boolean; maxOpen?: boolean } = {},
): void {
  const ok = Number.isFinite(value) && (minOpen ? value > min : value >= min) && (maxOpen ? value < max : value <= max);
  if (!ok) {
    throw new RangeError(`${name} must be in ${minOpen ? '(' : '['}${min}, ${max}${maxOpen ? ')' : ']'}, got ${value}`);
  }
}
