/**
 * The bin wrapper (bin/dfleet.mjs) forwards SIGINT to this process, which a terminal's Ctrl-C
 * also signals directly: one keypress arrives as two signals moments apart. A second signal
 * this soon after the first is that echo, not a second Ctrl-C.
 */
const SAME_KEYPRESS_MS = 500;

/**
 * Ctrl-C for a batch run: the first aborts `stopping` (no new line is sent; lines in flight are
 * awaited) and calls `onFirst`; the next one calls `onSecond`, which exits at once.
 */
export class InterruptWatch {
  readonly #stopping = new AbortController();
  #firstAt = 0;
  readonly #listener = (): void => this.#onSignal();

  constructor(
    private readonly onFirst: () => void,
    private readonly onSecond: () => void,
  ) {
    process.on('SIGINT', this.#listener);
  }

  get stopping(): AbortSignal {
    return this.#stopping.signal;
  }

  get interrupted(): boolean {
    return this.#stopping.signal.aborted;
  }

  dispose(): void {
    process.off('SIGINT', this.#listener);
  }

  #onSignal(): void {
    if (!this.#stopping.signal.aborted) {
      this.#firstAt = Date.now();
      this.#stopping.abort();
      this.onFirst();
      return;
    }
    if (Date.now() - this.#firstAt < SAME_KEYPRESS_MS) return;
    this.onSecond();
  }
}
