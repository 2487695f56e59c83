import type { BadBatchLine, BatchRequestLine } from './batch-input.ts';
import { type BatchOutputFile, type BatchOutputRecord, isFailed } from './batch-output.ts';
import type { BatchProgress } from './batch-progress.ts';
import type { GatewayHttp } from './gateway-http.ts';
import type { InterruptWatch } from './interrupt.ts';
import { outputRecordId } from './line-id.ts';

/** Where records go: failed ones to `errors` when --errors names a file, else with the rest. */
export interface BatchSinks {
  readonly output: BatchOutputFile;
  readonly errors: BatchOutputFile | undefined;
}

/**
 * One run of `dfleet batch`, shared by both modes: the gateway, Ctrl-C, the output files, the
 * progress bar and the counts it shows, and the lines left without a record (a rerun sends them).
 */
export class BatchRun {
  inFlight = 0;
  readonly left = new Map<string, string>();
  #done: number;
  #failed: number;
  #tokens = 0;
  #tokensKnown = true;

  constructor(
    readonly http: GatewayHttp,
    readonly interrupt: InterruptWatch,
    readonly progress: BatchProgress,
    private readonly sinks: BatchSinks,
    /** The model a body without one is sent to. */
    private readonly model: string,
    earlier: { done: number; failed: number },
  ) {
    this.#done = earlier.done;
    this.#failed = earlier.failed;
  }

  get done(): number {
    return this.#done;
  }

  get failed(): number {
    return this.#failed;
  }

  get tokens(): number {
    return this.#tokens;
  }

  /**
   * The body a line is sent with: its own, with the served model when it names none, and batch
   * priority unless it names one (interactive traffic is claimed first; a batch line waits for a
   * worker rather than being refused while none is up).
   */
  bodyFor(line: BatchRequestLine): Record<string, unknown> {
    const body: Record<string, unknown> = { ...line.body };
    body['model'] ??= this.model;
    const dfleet = body['dfleet'];
    if (dfleet === undefined) body['dfleet'] = { priority: 'batch' };
    else if (typeof dfleet === 'object' && dfleet !== null && !('priority' in dfleet)) {
      body['dfleet'] = { ...dfleet, priority: 'batch' };
    }
    return body;
  }

  /** Writes a line's record and counts it. */
  record(record: BatchOutputRecord, completionTokens: number | null): void {
    const failed = isFailed(record);
    (failed ? (this.sinks.errors ?? this.sinks.output) : this.sinks.output).append(record);
    if (failed) this.#failed++;
    else this.#done++;
    if (completionTokens === null) this.#tokensKnown = false;
    else this.#tokens += completionTokens;
    this.#showCounts();
  }

  /** Records a line that was never sent, with why. */
  recordBad(line: BadBatchLine): void {
    this.record(
      {
        id: outputRecordId(line.id),
        custom_id: line.id,
        response: null,
        error: { code: 'invalid_line', message: line.message },
      },
      0,
    );
  }

  /** A line that ends this run without a record. */
  leave(line: BatchRequestLine, reason: string): void {
    this.left.set(line.id, reason);
  }

  /** Counts set from outside (the Batch API's request counts while its batch runs). */
  showRemote(counts: { done: number; failed: number }): void {
    this.progress.update({ ...counts, tokens: null });
  }

  #showCounts(): void {
    this.progress.update({ done: this.#done, failed: this.#failed, tokens: this.#tokensKnown ? this.#tokens : null });
  }
}
