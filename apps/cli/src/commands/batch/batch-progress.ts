import { Presets, SingleBar } from 'cli-progress';

/** Counts the progress line shows; absolute, so either mode can set them from what it knows. */
export interface ProgressCounts {
  /** Lines with a successful result, this run and earlier runs. */
  done: number;
  /** Lines with an error in the output. */
  failed: number;
  /** Answer tokens of the lines finished in this run; null when the mode cannot know them yet. */
  tokens: number | null;
}

export interface BatchProgressOptions {
  /** @defaultValue process.stderr */
  stream?: NodeJS.WriteStream;
  /** How often a plain line is printed when the stream is not a terminal. @defaultValue 5000 */
  plainIntervalMs?: number;
}

/**
 * The progress bar on stderr (cli-progress): lines done, failed, answer tokens per second and
 * ETA. On a terminal it redraws in place; elsewhere (CI logs, a pipe) it prints a plain line
 * every few seconds, and a last one when it stops.
 */
export class BatchProgress {
  readonly #bar: SingleBar;
  readonly #stream: NodeJS.WriteStream;
  readonly #startedAt = Date.now();
  #counts: ProgressCounts;
  #stopped = false;

  constructor(
    readonly total: number,
    start: ProgressCounts,
    options: BatchProgressOptions = {},
  ) {
    this.#stream = options.stream ?? process.stderr;
    this.#counts = start;
    const tty = this.#stream.isTTY === true;
    const counts = '{value}/{total} lines | done {done} | failed {failed} | {tps} tok/s | ETA {eta_formatted}';
    this.#bar = new SingleBar(
      {
        format: tty ? `batch {bar} ${counts}` : `batch: ${counts}`,
        stream: this.#stream,
        noTTYOutput: true,
        notTTYSchedule: options.plainIntervalMs ?? 5_000,
        // Ctrl-C is the command's to handle (it waits for lines in flight); the bar only stops when told.
        gracefulExit: false,
        hideCursor: false,
        etaBuffer: 50,
      },
      Presets.shades_classic,
    );
  }

  start(): void {
    this.#bar.start(this.total, this.#finished(), this.#payload());
  }

  update(counts: ProgressCounts): void {
    this.#counts = counts;
    this.#bar.update(this.#finished(), this.#payload());
  }

  /** A message on a line of its own, above the bar on a terminal. */
  note(message: string): void {
    this.#stream.write(this.#stream.isTTY ? `\r\x1b[2K${message}\n` : `${message}\n`);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#bar.stop();
    if (this.#stream.isTTY) this.#stream.write('\n');
  }

  #finished(): number {
    return this.#counts.done + this.#counts.failed;
  }

  #payload(): Record<string, string | number> {
    const seconds = (Date.now() - this.#startedAt) / 1000;
    const tokens = this.#counts.tokens;
    const tps = tokens === null ? '-' : seconds > 0 ? (tokens / seconds).toFixed(1) : '0.0';
    return { done: this.#counts.done, failed: this.#counts.failed, tps };
  }
}
