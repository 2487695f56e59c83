/** The window of the tokens/s a worker's heartbeat reports. */
const RATE_WINDOW_MS = 60_000;

/**
 * What this worker finished, for its heartbeat: jobs since start, and answer tokens per second
 * over the last minute (over its life while that is shorter, so a new worker does not read slow).
 */
export class FinishedJobsTally {
  readonly #startedAt: number;
  /** [finishedAt, tokens] in finishing order, none older than the window. */
  readonly #recent: [number, number][] = [];
  #completed = 0;

  constructor(startedAt: number) {
    this.#startedAt = startedAt;
  }

  get completed(): number {
    return this.#completed;
  }

  add(tokens: number, finishedAt: number): void {
    this.#completed++;
    this.#recent.push([finishedAt, tokens]);
    this.#forgetBefore(finishedAt - RATE_WINDOW_MS);
  }

  tokensPerSecond(now: number): number {
    this.#forgetBefore(now - RATE_WINDOW_MS);
    const windowMs = Math.min(RATE_WINDOW_MS, now - this.#startedAt);
    if (windowMs <= 0) return 0;
    const tokens = this.#recent.reduce((sum, [, count]) => sum + count, 0);
    return (tokens * 1_000) / windowMs;
  }

  #forgetBefore(time: number): void {
    let stale = 0;
    while (stale < this.#recent.length && this.#recent[stale]![0] < time) stale++;
    this.#recent.splice(0, stale);
  }
}
