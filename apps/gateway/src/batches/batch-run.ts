import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { expandChoices } from '../completion-choices.ts';
import { answerChatCompletion, answerCompletions, type EndpointAnswer } from '../completion-answers.ts';
import type { CompletionRequest } from '../completion-request.ts';
import type { CompletionService } from '../completion-service.ts';
import {
  GatewayError,
  GenerationTimeoutError,
  NotReadyError,
  QueueFullError,
  QueueUnavailableError,
} from '../errors.ts';
import type { ModelCatalog } from '../model-catalog.ts';
import { WaitAbortedError } from '../pending-results.ts';
import { requestIdFor } from '../request-identity.ts';
import { parseBatchInput, type BatchLine, type LineCall } from './batch-input.ts';
import { answeredLine, failedLine, refusedLine } from './batch-output-lines.ts';
import { FINAL_BATCH_STATUSES, type BatchRecord, type BatchStatus, type BatchStore } from './batch-store.ts';

export interface BatchRunDependencies {
  store: BatchStore;
  service: CompletionService;
  catalog: ModelCatalog;
  logger: Logger;
  /** Lines of one batch in the queue (or decoding) at once. */
  window: number;
  maxLines: number;
  maxBatchPrompts: number;
  /**
   * Called once a batch this runner drove reaches a final status, and again by a run that finds it final
   * (its gateway died before, or this call threw: a throw fails the run, which BullMQ retries). So it must
   * be idempotent.
   */
  onBatchFinished: (batch: BatchRecord) => void | Promise<void>;
}

/** How a run ended: the batch reached a final status, or this gateway stopped (another resumes it). */
export type BatchRunEnd = 'finished' | 'interrupted';

/** How often a run reads its batch's status (a cancel from any gateway) and checks its expiry. */
const CONTROL_INTERVAL_MS = 1_000;
/** Wait before a line whose enqueue met a full or unreachable queue is tried again. */
const RETRY_DELAY_MS = 2_000;
/** Lines read back from Redis per round trip while the files are written. */
const FINALIZE_CHUNK = 1_000;

type RequestLine = Extract<BatchLine, { kind: 'request' }>;
type Pending = { line: RequestLine; notBefore: number };

/**
 * Drives one batch from what Redis holds: parses its input, records the refused lines, feeds the
 * rest as batch-priority jobs a window at a time, records each answer once, and writes the
 * output and error files. Everything it needs to resume is in Redis (the input file, the lines
 * recorded, the jobs named after batch and line), so any gateway can run it again after a crash.
 */
export class BatchRun {
  readonly #deps: BatchRunDependencies;
  readonly #batchId: string;
  readonly #signal: AbortSignal;

  constructor(deps: BatchRunDependencies, batchId: string, signal: AbortSignal) {
    this.#deps = deps;
    this.#batchId = batchId;
    this.#signal = signal;
  }

  async run(): Promise<BatchRunEnd> {
    const { store } = this.#deps;
    const batch = await store.getBatch(this.#batchId);
    if (batch === null) return 'finished';
    if (FINAL_BATCH_STATUSES.has(batch.status)) {
      // A run whose gateway died between the final status and the announcement: announce again
      // (the webhook delivery's id is the batch's, so one announced twice is delivered once).
      await this.#announce(batch.id);
      return 'finished';
    }
    const content = await store.fileContent(batch.inputFileId);
    if (content === null) {
      return this.#failBatch(batch, {
        code: 'input_file_missing',
        message: `input file '${batch.inputFileId}' was deleted before the batch finished`,
        param: 'input_file_id',
        line: null,
      });
    }
    const input = await parseBatchInput(content, {
      endpoint: batch.endpoint,
      catalog: this.#deps.catalog,
      tenant: batch.tenant,
      batchId: batch.id,
      maxLines: this.#deps.maxLines,
      maxBatchPrompts: this.#deps.maxBatchPrompts,
    });
    if (input.kind === 'invalid') return this.#failBatch(batch, ...input.errors);
    const { lines } = input;
    for (const line of lines) {
      if (line.kind !== 'refused') continue;
      const json =
        line.failure.kind === 'http'
          ? refusedLine(batch.id, line.line, line.customId, line.failure.error)
          : failedLine(batch.id, line.line, line.customId, line.failure.code, line.failure.message);
      await store.recordLine(batch.id, line.line, 'errors', json);
    }
    await store.setTotal(batch.id, lines.length);
    if (batch.status === 'validating') await store.transition(batch.id, ['validating'], 'in_progress');
    const recorded = await store.recordedLines(batch.id);
    const todo = lines.filter((line): line is RequestLine => line.kind === 'request' && !recorded.has(line.line));
    const end = await this.#feed(batch, todo);
    if (end === 'interrupted') return end;
    return this.#finalize(batch, lines, end);
  }

  /**
   * Keeps up to `window` lines running until every line is recorded, the batch is cancelled or
   * expires, or this gateway stops. Returns how the lines not recorded are to be written.
   */
  async #feed(batch: BatchRecord, todo: RequestLine[]): Promise<'completed' | 'cancelled' | 'expired' | 'interrupted'> {
    const { store, window } = this.#deps;
    // Lines in file order from a cursor (a 50,000-line batch is never spliced), and the few to retry.
    let next = 0;
    const retries: Pending[] = [];
    const inFlight = new Map<number, Promise<void>>();
    const stopLines = new AbortController();
    // Every job of a line in flight listens on it (and stops listening when it ends): up to
    // `window` lines of up to `maxBatchPrompts` jobs at once is expected, not the leak Node warns of above 10.
    setMaxListeners(window * this.#deps.maxBatchPrompts + 1, stopLines.signal);
    let wake: () => void = () => {};
    const onAbort = () => wake();
    this.#signal.addEventListener('abort', onAbort);
    let end: 'completed' | 'cancelled' | 'expired' | 'interrupted' = 'completed';
    let controlAt = 0;
    const start = (line: RequestLine) => {
      const running = this.#runLine(batch, line, stopLines.signal).then((retryAfterMs) => {
        inFlight.delete(line.line);
        if (retryAfterMs !== null) retries.push({ line, notBefore: Date.now() + retryAfterMs });
        wake();
      });
      inFlight.set(line.line, running);
    };
    try {
      while (true) {
        if (this.#signal.aborted) {
          end = 'interrupted';
          break;
        }
        const now = Date.now();
        if (now >= controlAt) {
          controlAt = now + CONTROL_INTERVAL_MS;
          const current = await store.getBatch(batch.id);
          if (current === null || current.status === 'cancelling') {
            end = 'cancelled';
            break;
          }
          if (now >= current.expiresAt * 1000) {
            end = 'expired';
            break;
          }
        }
        for (let i = 0; i < retries.length && inFlight.size < window; ) {
          const due = retries[i] as Pending;
          if (due.notBefore > now) i++;
          else start((retries.splice(i, 1)[0] as Pending).line);
        }
        while (next < todo.length && inFlight.size < window) start(todo[next++] as RequestLine);
        if (inFlight.size === 0 && retries.length === 0 && next === todo.length) break;
        const wakeAt = Math.min(controlAt, ...retries.map((retry) => retry.notBefore));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(10, wakeAt - Date.now()));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      this.#signal.removeEventListener('abort', onAbort);
      stopLines.abort();
      const stopped = [...inFlight.keys()];
      await Promise.all(inFlight.values());
      if (end === 'cancelled' || end === 'expired') {
        // Jobs of lines that were running, waiting to be retried, or next in line (a previous run may have fed them).
        const byLine = new Map(todo.map((line) => [line.line, line]));
        const unfinished = [
          ...stopped.map((line) => byLine.get(line)).filter((line) => line !== undefined),
          ...retries.map(({ line }) => line),
          ...todo.slice(next, next + window),
        ];
        await this.#cancelJobs(batch, unfinished);
      }
    }
    return end;
  }

  /**
   * Runs one line through its endpoint's answer and records it.
   * @returns null when the line is done (recorded, or the run is stopping), else when to try it again.
   */
  async #runLine(batch: BatchRecord, line: RequestLine, signal: AbortSignal): Promise<number | null> {
    const { service, store, logger } = this.#deps;
    const context = { tenant: batch.tenant, signal };
    try {
      const answer: EndpointAnswer<unknown> =
        line.call.endpoint === '/v1/chat/completions'
          ? await answerChatCompletion(service, line.call.completion, context)
          : await answerCompletions(service, line.call.call, context);
      await store.recordLine(
        batch.id,
        line.line,
        'output',
        answeredLine(batch.id, line.line, line.customId, answer.jobId, answer.body),
      );
      return null;
    } catch (error) {
      if (error instanceof WaitAbortedError || signal.aborted) return null;
      const retryAfterMs = retryDelayOf(error);
      if (retryAfterMs !== null) return retryAfterMs;
      if (error instanceof GatewayError) {
        try {
          await store.recordLine(batch.id, line.line, 'errors', refusedLine(batch.id, line.line, line.customId, error));
          return null;
        } catch (recordError) {
          logger.warn(
            { batchId: batch.id, line: line.line, err: recordError },
            'could not record a failed batch line; retrying it',
          );
          return RETRY_DELAY_MS;
        }
      }
      logger.warn(
        { batchId: batch.id, line: line.line, err: error },
        'batch line met an unexpected error; retrying it',
      );
      return RETRY_DELAY_MS;
    }
  }

  async #cancelJobs(batch: BatchRecord, lines: readonly RequestLine[]): Promise<void> {
    const { service, logger } = this.#deps;
    const jobIds = lines.flatMap((line) => jobIdsOf(line.call, batch.tenant));
    await Promise.all(
      jobIds.map((jobId) =>
        service.cancel(jobId, batch.tenant).catch((error: unknown) => {
          if (!(error instanceof GatewayError && error.httpStatus === 404)) {
            logger.debug({ batchId: batch.id, jobId, err: error }, 'could not cancel a job of a stopped batch');
          }
        }),
      ),
    );
  }

  /** Writes the lines not recorded (cancelled, expired) as errors, then the files, then the final status. */
  async #finalize(
    batch: BatchRecord,
    lines: readonly BatchLine[],
    end: 'completed' | 'cancelled' | 'expired',
  ): Promise<BatchRunEnd> {
    const { store } = this.#deps;
    let final: BatchStatus = end;
    if (end === 'completed') {
      const moved = await store.transition(batch.id, ['in_progress', 'finalizing'], 'finalizing');
      if (!moved.applied) {
        if (moved.found !== 'cancelling') return 'finished';
        final = 'cancelled';
      }
    }
    if (final !== 'completed') {
      const recorded = await store.recordedLines(batch.id);
      const code = final === 'cancelled' ? 'batch_cancelled' : 'batch_expired';
      const message =
        final === 'cancelled'
          ? 'the batch was cancelled before this line was answered'
          : 'the batch expired (its completion_window passed) before this line was answered';
      for (const line of lines) {
        if (recorded.has(line.line)) continue;
        await store.recordLine(
          batch.id,
          line.line,
          'errors',
          failedLine(batch.id, line.line, line.customId, code, message),
        );
      }
    }
    const output: string[] = [];
    const errors: string[] = [];
    const numbers = lines.map((line) => line.line);
    for (let start = 0; start < numbers.length; start += FINALIZE_CHUNK) {
      const chunk = await store.recordedResults(batch.id, numbers.slice(start, start + FINALIZE_CHUNK));
      output.push(...chunk.output);
      errors.push(...chunk.errors);
    }
    const fileIds = await this.#writeFiles(batch, output, errors);
    const from: BatchStatus[] = final === 'cancelled' ? ['cancelling'] : ['finalizing', 'in_progress', 'cancelling'];
    const moved = await store.transition(batch.id, from, final, fileIds);
    if (!moved.applied) return 'finished';
    await store.dropLineResults(batch.id);
    await this.#announce(batch.id);
    return 'finished';
  }

  async #writeFiles(batch: BatchRecord, output: string[], errors: string[]): Promise<Record<string, string>> {
    const { store } = this.#deps;
    const suffix = batch.id.replace(/^batch_/, '');
    const fields: Record<string, string> = {};
    const createdAt = Math.floor(Date.now() / 1000);
    for (const [kind, lines] of [
      ['output', output],
      ['error', errors],
    ] as const) {
      if (lines.length === 0) continue;
      const id = `file-${suffix}-${kind}`;
      const content = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
      await store.saveFile(
        {
          id,
          tenant: batch.tenant,
          bytes: content.length,
          createdAt,
          filename: `${batch.id}_${kind}.jsonl`,
          purpose: 'batch_output',
        },
        content,
      );
      fields[`${kind}_file_id`] = id;
    }
    return fields;
  }

  async #failBatch(batch: BatchRecord, ...errors: BatchRecord['errors'] & object): Promise<BatchRunEnd> {
    const moved = await this.#deps.store.transition(batch.id, ['validating', 'in_progress', 'cancelling'], 'failed', {
      errors: JSON.stringify(errors),
    });
    if (moved.applied) await this.#announce(batch.id);
    return 'finished';
  }

  async #announce(batchId: string): Promise<void> {
    const finished = await this.#deps.store.getBatch(batchId);
    if (finished === null) return;
    try {
      await this.#deps.onBatchFinished(finished);
    } catch (error) {
      // Failing the run makes BullMQ run it again (BATCH_JOB_RETRIES), which finds the batch final and
      // announces it again: a webhook whose queueing met a Redis outage is queued once Redis is back.
      this.#deps.logger.warn({ batchId, err: error }, 'onBatchFinished failed; the run is retried to announce again');
      throw error;
    }
  }
}

/** The ids of the jobs a line's call runs, as the completion service names them. */
function jobIdsOf(call: LineCall, tenant: string): string[] {
  let completion: CompletionRequest;
  if (call.endpoint === '/v1/chat/completions') completion = call.completion;
  else if (call.call.kind === 'prompts') return call.call.batch.jobIds;
  else completion = call.call.completion;
  return expandChoices(completion).map((choice) => requestIdFor(tenant, choice.idempotencyKey));
}

/** Failures that say "not now" rather than "not this line": the line is fed again later. */
function retryDelayOf(error: unknown): number | null {
  const inner = error instanceof GatewayError && error.cause instanceof GatewayError ? error.cause : error;
  if (inner instanceof GenerationTimeoutError) return 0;
  if (inner instanceof QueueFullError || inner instanceof QueueUnavailableError || inner instanceof NotReadyError) {
    return Math.max(RETRY_DELAY_MS, (inner.retryAfterSeconds ?? 0) * 1_000);
  }
  return null;
}
