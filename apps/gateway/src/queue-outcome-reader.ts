import type { Logger } from 'pino';
import { generationResultSchema, type GenerationResult, type RedisConnection } from '@dfleet/queue';

/** What the queue tells the gateway about jobs it did not hear about through a callback. */
export interface QueueOutcomeListener {
  /**
   * Whether this gateway still waits for the job. Every gateway hears every job of the fleet
   * finish; the others are skipped before their return value is parsed.
   */
  waitsFor(jobId: string): boolean;
  completed(jobId: string, result: GenerationResult): void;
  failed(jobId: string, reason: string): void;
}

export interface QueueOutcomeReaderOptions {
  /** A connection of its own: the reads block. */
  readonly redis: RedisConnection;
  /** BullMQ's events streams of the generation queues, one per class (`queue.keys.events`). */
  readonly eventsKeys: readonly string[];
  readonly outcomes: QueueOutcomeListener;
  readonly logger: Logger;
  /** Reports a failed read (the caller rate-limits its logging). */
  readonly onError: (error: Error) => void;
  /** Pause after a read that brought an outcome. @defaultValue OUTCOME_READ_PAUSE_MS */
  readonly readPauseMs?: number;
}

/** See QueueOutcomeReader. */
const OUTCOME_READ_PAUSE_MS = 100;

/** One stream entry: its id and its fields as [name, value, name, value, ...]. */
type StreamEntry = [id: string, fields: string[]];
type StreamReply = [key: string, entries: StreamEntry[]][];

/** Most events taken by one read. */
const READ_COUNT = 1_000;
/** How long one read waits for an event on an idle fleet. */
export const OUTCOME_READ_BLOCK_MS = 5_000;
/** Pause after a failed read (ioredis reconnects meanwhile). */
const RETRY_PAUSE_MS = 1_000;

/**
 * Follows BullMQ's events streams of the generation queues (both classes, one XREAD) and tells the gateway of completed and
 * failed jobs it still waits for: the safety net under worker callbacks, for the rare result no
 * callback brought (another gateway enqueued the job, a callback gave up, a stalled job failed).
 *
 * Every gateway hears every event of the fleet, so this must cost the request path little.
 * BullMQ's QueueEvents reads again at once after each event: under load, one Redis round trip
 * and one wake-up of the gateway per event, several per job. Here a read that brought an outcome
 * is followed by a pause of `readPauseMs` (unless it was full), and the next read takes what
 * accumulated.
 * So an outcome is heard at once unless another one was heard less than `readPauseMs` before:
 * on an idle fleet at once, on a busy one within about `readPauseMs`, in a few reads a second.
 */
export class QueueOutcomeReader {
  readonly #options: QueueOutcomeReaderOptions;
  readonly #readPauseMs: number;
  readonly #running: Promise<void>;
  #closed = false;
  #wake: (() => void) | null = null;

  constructor(options: QueueOutcomeReaderOptions) {
    this.#options = options;
    this.#readPauseMs = options.readPauseMs ?? OUTCOME_READ_PAUSE_MS;
    this.#running = this.#run();
  }

  /** Stops reading and drops the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    this.#options.redis.disconnect();
    await this.#running;
  }

  async #run(): Promise<void> {
    const { redis, eventsKeys } = this.#options;
    // From each stream's newest entry at start: earlier outcomes are for jobs nobody waits for here.
    let lastIds: string[] | null = null;
    while (!this.#closed) {
      let pauseMs = 0;
      try {
        lastIds ??= await Promise.all(eventsKeys.map((key) => this.#newestId(key)));
        const streams = [...eventsKeys, ...lastIds];
        const reply: StreamReply | null = await redis.xread(
          'COUNT',
          READ_COUNT,
          'BLOCK',
          OUTCOME_READ_BLOCK_MS,
          'STREAMS',
          ...streams,
        );
        let outcomes = 0;
        let full = false;
        for (const [key, entries] of reply ?? []) {
          const index = eventsKeys.indexOf(key);
          for (const [id, fields] of entries) {
            lastIds[index] = id;
            if (this.#handle(fields)) outcomes++;
          }
          full ||= entries.length >= READ_COUNT;
        }
        // A full read means more is waiting: catch up first, or BullMQ trims events not yet read.
        if (outcomes > 0 && !full) pauseMs = this.#readPauseMs;
      } catch (error) {
        if (this.#closed) break;
        this.#options.onError(error as Error);
        pauseMs = RETRY_PAUSE_MS;
      }
      if (pauseMs > 0) await this.#pause(pauseMs);
    }
  }

  async #newestId(eventsKey: string): Promise<string> {
    const [newest] = await this.#options.redis.xrevrange(eventsKey, '+', '-', 'COUNT', 1);
    return newest?.[0] ?? '0-0';
  }

  /** Whether the entry is a job's outcome (completed, or failed for good), of any gateway's job. */
  #handle(fields: string[]): boolean {
    const { outcomes, logger } = this.#options;
    const event = fieldOf(fields, 'event');
    if (event !== 'completed' && event !== 'failed') return false;
    const jobId = fieldOf(fields, 'jobId');
    if (jobId === undefined || !outcomes.waitsFor(jobId)) return true;
    // BullMQ publishes `failed` only when no retry is left.
    if (event === 'failed') {
      outcomes.failed(jobId, fieldOf(fields, 'failedReason') ?? 'failed without a reason');
      return true;
    }
    const parsed = generationResultSchema.safeParse(parseJson(fieldOf(fields, 'returnvalue')));
    if (parsed.success) outcomes.completed(jobId, parsed.data);
    else logger.warn({ jobId }, 'completed job has a return value that is not a GenerationResult');
    return true;
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

function fieldOf(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
