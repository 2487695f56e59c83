import { setImmediate as nextMacrotask } from 'node:timers/promises';
import {
  applyRowOutput,
  batchPositions,
  bucketLength,
  padBatch,
  type DecodeSession,
  type Denoiser,
  type DenoiserOutput,
  type DenoiserOutputForm,
  type StepReport,
} from '@dfleet/decoder';

/** Why a decode left the batch before its session finished by itself. */
export type StopReason = 'cancelled' | 'deadline';

/** How a submitted decode ended. After `stopped`, the session was cancelled (`finished` is true). */
export type DecodeOutcome = { status: 'finished' } | { status: 'stopped'; reason: StopReason; signalReason: unknown };

export interface ScheduledDecode {
  readonly session: DecodeSession;
  /** Aborting stops the decode before its next step (outcome `stopped`, reason `cancelled`). */
  readonly signal?: AbortSignal;
  /** Epoch ms; a decode still running at its next step after this stops with reason `deadline`. */
  readonly deadlineAt?: number;
  /** Called after each of this decode's steps, on the scheduler's loop; must be quick and not throw. */
  readonly onStep?: (report: StepReport) => void;
}

/** One forward pass as the scheduler ran it. */
export interface BatchReport {
  /** 1-based index of the forward pass since the scheduler was created. */
  readonly step: number;
  /** The sessions in this pass, in row order. */
  readonly sessions: readonly DecodeSession[];
  /** Padded (bucketed) length of every row. */
  readonly sequenceLength: number;
  /** batchSize x sequenceLength: what counts against `maxBatchTokens`. */
  readonly paddedTokens: number;
  /** Sum of the rows' own lengths. */
  readonly realTokens: number;
  /** Decodes that were active but left out of this pass for the token budget. */
  readonly deferred: number;
  readonly denoiseMs: number;
  /** Time spent applying the output (logits or predictions) to every row of this pass. */
  readonly applyMs: number;
}

export interface StepSchedulerStats {
  readonly forwardPasses: number;
  readonly rows: number;
  readonly paddedTokens: number;
  readonly realTokens: number;
  readonly denoiseMs: number;
  readonly applyMs: number;
}

export interface StepSchedulerOptions {
  readonly denoiser: Denoiser;
  /** Id written into padding positions (attention mask 0 there). */
  readonly padId: number;
  /**
   * Upper bound on batchSize x padded length of one forward pass (memory). A single decode
   * longer than this still runs, alone.
   */
  readonly maxBatchTokens: number;
  /**
   * Padded lengths are rounded up to a multiple of this, so passes of similar lengths share a
   * shape.
   * @defaultValue 16
   */
  readonly lengthMultiple?: number;
  /** Observer of every forward pass (metrics, tests); must not throw. */
  readonly onBatch?: (report: BatchReport) => void;
}

interface ActiveDecode {
  readonly decode: ScheduledDecode;
  /** Lower runs first when the token budget cannot fit everyone; re-issued after each step. */
  ticket: number;
  resolve(outcome: DecodeOutcome): void;
  reject(error: unknown): void;
}

interface PassPlan {
  readonly chosen: ActiveDecode[];
  readonly sequenceLength: number;
  readonly deferred: number;
}

/** A decode submitted after `close()`. */
export class SchedulerClosedError extends Error {
  readonly code = 'scheduler_closed';
  constructor() {
    super('the step scheduler is closed; no new decodes are accepted');
    this.name = 'SchedulerClosedError';
  }
}

/**
 * Step-level continuous batching. Every forward pass batches the active decodes (right-padded
 * to a bucketed length, attention mask 0 on padding, and, for a denoiser that computes only
 * where asked, each row's positions to read) and hands each row's slice of the output (logits or
 * reduced predictions) to its own session, so each job advances by its own strategy and knobs. A decode submitted while a pass
 * runs joins at the very next pass; a finished, cancelled or expired one leaves before it.
 *
 * When the padded batch would exceed `maxBatchTokens`, the pass takes decodes in ticket order
 * (the longest-waiting first; a decode that ran gets a fresh ticket at the back) while they
 * fit, and always at least the first. So with n active decodes, each one advances at least once
 * in every n passes: nothing starves, however long or short its neighbours are.
 *
 * The loop awaits the denoiser and yields a macrotask between passes, so timers (BullMQ lock
 * renewal, heartbeats) and gRPC keep running; the denoiser itself should compute off the main
 * thread (OnnxDenoiser does, in a worker thread). Nothing stands between a submit and its first
 * pass: an idle scheduler starts it one microtask later (so decodes submitted together share it),
 * a busy one right after the pass in flight.
 */
export class StepScheduler {
  readonly #denoiser: Denoiser;
  readonly #padId: number;
  readonly #maxBatchTokens: number;
  readonly #lengthMultiple: number;
  readonly #onBatch: ((report: BatchReport) => void) | undefined;
  readonly #active = new Set<ActiveDecode>();
  #nextTicket = 0;
  #step = 0;
  #running: Promise<void> | undefined;
  #closed = false;
  #stats: StepSchedulerStats = { forwardPasses: 0, rows: 0, paddedTokens: 0, realTokens: 0, denoiseMs: 0, applyMs: 0 };

  constructor(options: StepSchedulerOptions) {
    if (!Number.isInteger(options.maxBatchTokens) || options.maxBatchTokens < 1) {
      throw new RangeError(`maxBatchTokens must be a positive integer, got ${options.maxBatchTokens}`);
    }
    this.#denoiser = options.denoiser;
    this.#padId = options.padId;
    this.#maxBatchTokens = options.maxBatchTokens;
    this.#lengthMultiple = options.lengthMultiple ?? 16;
    this.#onBatch = options.onBatch;
  }

  /** What the denoiser returns: sessions for this scheduler must be created for it. */
  get outputForm(): DenoiserOutputForm | undefined {
    return this.#denoiser.outputForm;
  }

  /** Decodes in the batch now or waiting for their next pass. */
  get activeCount(): number {
    return this.#active.size;
  }

  get stats(): StepSchedulerStats {
    return { ...this.#stats };
  }

  /**
   * Runs a session to its end. Resolves when it finished or was stopped; rejects when the
   * denoiser failed on its pass or its session rejected the logits (other decodes go on).
   * A decode already stopped (signal aborted, deadline passed) or finished (its session cancelled
   * at claim time) resolves at once, without a forward pass; stopped wins over finished.
   */
  submit(decode: ScheduledDecode): Promise<DecodeOutcome> {
    if (this.#closed) return Promise.reject(new SchedulerClosedError());
    const stopped = this.#stop(decode, Date.now());
    if (stopped) return Promise.resolve(stopped);
    if (decode.session.finished) return Promise.resolve({ status: 'finished' });
    return new Promise<DecodeOutcome>((resolve, reject) => {
      this.#active.add({ decode, ticket: this.#nextTicket++, resolve, reject });
      this.#running ??= this.#loop();
    });
  }

  /** Refuses new decodes and waits for the active ones to end. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
  }

  async #loop(): Promise<void> {
    try {
      // Let every decode submitted in the same synchronous run join the first pass, but start it
      // before other I/O work queued meanwhile (BullMQ fetching its next job, callbacks): the
      // pass computes in its own thread while that work runs here.
      await Promise.resolve();
      while (this.#active.size > 0) {
        this.#releaseStopped();
        if (this.#active.size === 0) break;
        await this.#runPass(this.#pickPass());
        // A macrotask boundary: newly claimed jobs, lock renewal and callbacks get their turn.
        await nextMacrotask();
      }
    } finally {
      // Cleared in the same microtask as the last emptiness check, so a decode submitted
      // from here on starts a new loop instead of waiting on this finished one.
      this.#running = undefined;
    }
  }

  /** Ends decodes whose signal aborted or whose deadline passed, before they cost another pass. */
  #releaseStopped(): void {
    const now = Date.now();
    for (const entry of this.#active) {
      const stopped = this.#stop(entry.decode, now);
      if (!stopped) continue;
      this.#active.delete(entry);
      entry.resolve(stopped);
    }
  }

  /** Cancels the session of a decode whose signal aborted or whose deadline passed, and says why. */
  #stop({ session, signal, deadlineAt }: ScheduledDecode, now: number): DecodeOutcome | undefined {
    let reason: StopReason | undefined;
    if (signal?.aborted) reason = 'cancelled';
    else if (deadlineAt !== undefined && now >= deadlineAt) reason = 'deadline';
    if (reason === undefined) return undefined;
    session.cancel();
    return { status: 'stopped', reason, signalReason: signal?.reason };
  }

  /** Ticket order, greedily while the padded batch fits the token budget (always at least one). */
  #pickPass(): PassPlan {
    const waiting = [...this.#active].sort((a, b) => a.ticket - b.ticket);
    const chosen: ActiveDecode[] = [];
    let longest = 0;
    for (const entry of waiting) {
      const candidateLongest = Math.max(longest, entry.decode.session.canvas.length);
      const padded = (chosen.length + 1) * bucketLength(candidateLongest, this.#lengthMultiple);
      if (chosen.length > 0 && padded > this.#maxBatchTokens) continue;
      chosen.push(entry);
      longest = candidateLongest;
    }
    for (const entry of chosen) entry.ticket = this.#nextTicket++;
    return {
      chosen,
      sequenceLength: bucketLength(longest, this.#lengthMultiple),
      deferred: waiting.length - chosen.length,
    };
  }

  async #runPass({ chosen, sequenceLength, deferred }: PassPlan): Promise<void> {
    const sessions = chosen.map((entry) => entry.decode.session);
    const padded = padBatch(
      sessions.map((session) => session.canvas),
      this.#padId,
      { lengthMultiple: this.#lengthMultiple },
    );
    const positions = batchPositions(sessions, this.#denoiser.outputForm);
    const batch = positions ? { ...padded, positions } : padded;
    const step = ++this.#step;
    const denoiseStarted = performance.now();
    let output: DenoiserOutput;
    try {
      output = await this.#denoiser.denoise(batch);
    } catch (error) {
      if (chosen.length > 1) {
        // One row may be what breaks the pass (a poison job): run each alone, so only the rows
        // that fail by themselves fail and the rest of the batch takes this step as usual.
        for (const entry of chosen) {
          await this.#runPass({
            chosen: [entry],
            sequenceLength: bucketLength(entry.decode.session.canvas.length, this.#lengthMultiple),
            deferred: 0,
          });
        }
        return;
      }
      // The pass failed for its one row; decodes outside it keep going.
      for (const entry of chosen) {
        this.#active.delete(entry);
        entry.reject(error);
      }
      return;
    }
    const denoiseMs = performance.now() - denoiseStarted;

    const applyStarted = performance.now();
    let realTokens = 0;
    for (const [row, entry] of chosen.entries()) {
      realTokens += entry.decode.session.canvas.length;
      this.#applyRow(entry, () => applyRowOutput(entry.decode.session, output, row, batch));
    }
    const applyMs = performance.now() - applyStarted;

    const paddedTokens = batch.batchSize * sequenceLength;
    const stats = this.#stats;
    this.#stats = {
      forwardPasses: stats.forwardPasses + 1,
      rows: stats.rows + batch.batchSize,
      paddedTokens: stats.paddedTokens + paddedTokens,
      realTokens: stats.realTokens + realTokens,
      denoiseMs: stats.denoiseMs + denoiseMs,
      applyMs: stats.applyMs + applyMs,
    };
    this.#observe({
      step,
      sessions,
      sequenceLength,
      paddedTokens,
      realTokens,
      deferred,
      denoiseMs,
      applyMs,
    });
  }

  /** One step of one decode: commit, report, and release it when finished. */
  #applyRow(entry: ActiveDecode, apply: () => StepReport): void {
    const { onStep } = entry.decode;
    let report: StepReport;
    try {
      report = apply();
    } catch (error) {
      this.#active.delete(entry);
      entry.reject(error);
      return;
    }
    try {
      onStep?.(report);
    } catch {
      // An observer's bug must not stall the other decodes; the step itself happened.
    }
    if (report.finished) {
      this.#active.delete(entry);
      entry.resolve({ status: 'finished' });
    }
  }

  #observe(report: BatchReport): void {
    try {
      this.#onBatch?.(report);
    } catch {
      // Metrics must never stop decoding.
    }
  }
}
