import { setImmediate as nextMacrotask } from 'node:timers/promises';
import {
  applyRowOutput,
  batchPositions,
  bucketLength,
  padBatch,
  type Denoiser,
  type DenoiserOutput,
  type DenoiserOutputForm,
  type PrefixCacheRow,
  type StepReport,
} from '@dfleet/decoder';
import type { BatchReport, PassKind, StepSchedulerStats } from './batch-report.ts';
import { PrefixCacheUnsupportedError, SchedulerClosedError } from './errors.ts';
import { PrefixCacheLedger } from './prefix-cache-ledger.ts';
import type { DecodeOutcome, ScheduledDecode, StopReason } from './scheduled-decode.ts';
import type { StepSchedulerOptions } from './step-scheduler-options.ts';

interface ActiveDecode {
  readonly decode: ScheduledDecode;
  /** Lower runs first when the token budget cannot fit everyone; re-issued after each step. */
  ticket: number;
  resolve(outcome: DecodeOutcome): void;
  reject(error: unknown): void;
}

/** One row of a pass: its decode and what it does with its cache. */
interface PassRow {
  readonly entry: ActiveDecode;
  /** Canvas positions read from the cache; the row's ids start there. */
  readonly cachedLength: number;
  /** Positions to keep as the decode's cache after the pass; 0: none. */
  readonly keepLength: number;
}

interface PassPlan {
  readonly kind: PassKind;
  readonly rows: PassRow[];
  readonly deferred: number;
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
 * With `prefixCache`, each iteration runs up to two passes, and every chosen decode is in exactly
 * one of them: the cached pass holds the decodes whose cache is their cacheable prefix (the
 * canvas before the current block), each row only its window after it; the full pass holds the
 * rest, whole canvases, each keeping its cacheable prefix as its new cache when the byte budget
 * allows (Fast-dLLM: a refresh at each block's first step). Each pass is padded and kept within
 * `maxBatchTokens` on its own. A decode's cache is freed however it leaves. Which pass a decode
 * joins and what it keeps are PrefixCacheLedger's answers; this class only batches them.
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
  /** Set when decodes keep prefix caches: each active decode is joined to it until it leaves. */
  readonly #ledger: PrefixCacheLedger<ActiveDecode> | undefined;
  readonly #active = new Set<ActiveDecode>();
  #nextTicket = 0;
  #step = 0;
  #running: Promise<void> | undefined;
  #closed = false;
  #stats: Omit<StepSchedulerStats, 'cacheBytes'> = {
    forwardPasses: 0,
    rows: 0,
    paddedTokens: 0,
    realTokens: 0,
    denoiseMs: 0,
    applyMs: 0,
    cachedPasses: 0,
  };

  constructor(options: StepSchedulerOptions) {
    if (!Number.isInteger(options.maxBatchTokens) || options.maxBatchTokens < 1) {
      throw new RangeError(`maxBatchTokens must be a positive integer, got ${options.maxBatchTokens}`);
    }
    if (options.prefixCache) {
      const { maxBytes } = options.prefixCache;
      if (!Number.isFinite(maxBytes) || maxBytes < 0) {
        throw new RangeError(`prefixCache.maxBytes must be a number of bytes >= 0, got ${maxBytes}`);
      }
      const support = options.denoiser.prefixCache;
      if (!support) throw new PrefixCacheUnsupportedError();
      this.#ledger = new PrefixCacheLedger(support, maxBytes);
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
    return { ...this.#stats, cacheBytes: this.#ledger?.bytes ?? 0 };
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
      const entry: ActiveDecode = { decode, ticket: this.#nextTicket++, resolve, reject };
      this.#active.add(entry);
      this.#ledger?.join(entry);
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
        // Each chosen decode sits in exactly one of the two passes: one step per iteration.
        for (const plan of this.#pickPasses()) await this.#runPass(plan);
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
      this.#leave(entry);
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

  /**
   * Ticket order, greedily while each pass's padded batch fits the token budget (always at least
   * the first decode). A decode whose cache holds exactly its cacheable prefix goes in the cached
   * pass and costs its window; any other goes in the full pass, refreshing its cache when the
   * byte budget allows. Empty passes are left out.
   */
  #pickPasses(): PassPlan[] {
    const waiting = [...this.#active].sort((a, b) => a.ticket - b.ticket);
    const groups = { full: { rows: [] as PassRow[], longest: 0 }, cached: { rows: [] as PassRow[], longest: 0 } };
    const chosen: ActiveDecode[] = [];
    const refreshes = this.#ledger?.planRefreshes();
    for (const entry of waiting) {
      const { canvas, cacheablePrefix } = entry.decode.session;
      const cachedLength = this.#ledger?.readableLength(entry, cacheablePrefix) ?? 0;
      const kind: PassKind = cachedLength > 0 ? 'cached' : 'full';
      const group = groups[kind];
      const candidateLongest = Math.max(group.longest, canvas.length - cachedLength);
      const padded = (group.rows.length + 1) * bucketLength(candidateLongest, this.#lengthMultiple);
      if (chosen.length > 0 && group.rows.length > 0 && padded > this.#maxBatchTokens) continue;
      group.longest = candidateLongest;
      chosen.push(entry);
      // Planned only for the decodes that run: a deferred one keeps its cache for its next pass.
      const keepLength = kind === 'full' ? (refreshes?.keep(entry, cacheablePrefix) ?? 0) : 0;
      group.rows.push({ entry, cachedLength, keepLength });
    }
    // In the order they waited, whichever pass they run in.
    for (const entry of chosen) entry.ticket = this.#nextTicket++;
    const deferred = waiting.length - chosen.length;
    const plans: PassPlan[] = [];
    if (groups.cached.rows.length > 0) plans.push({ kind: 'cached', rows: groups.cached.rows, deferred });
    if (groups.full.rows.length > 0) plans.push({ kind: 'full', rows: groups.full.rows, deferred });
    return plans;
  }

  /** A decode leaves the batch, however it ends: its cache goes with it. */
  #leave(entry: ActiveDecode): void {
    this.#active.delete(entry);
    this.#ledger?.left(entry);
  }

  async #runPass({ kind, rows, deferred }: PassPlan): Promise<void> {
    const sessions = rows.map(({ entry }) => entry.decode.session);
    const windowStarts = rows.map((row) => row.cachedLength);
    const padded = padBatch(
      sessions.map((session, r) => session.canvas.subarray(windowStarts[r])),
      this.#padId,
      { lengthMultiple: this.#lengthMultiple },
    );
    const positions = batchPositions(sessions, this.#denoiser.outputForm, windowStarts);
    const ledger = this.#ledger;
    const prefixCache: PrefixCacheRow[] | undefined = ledger
      ? rows.map(({ entry, cachedLength, keepLength }) => ledger.instruction(entry, cachedLength, keepLength))
      : undefined;
    const batch = {
      ...padded,
      ...(positions ? { positions } : {}),
      ...(prefixCache ? { prefixCache } : {}),
    };
    const step = ++this.#step;
    const denoiseStarted = performance.now();
    let output: DenoiserOutput;
    try {
      output = await this.#denoiser.denoise(batch);
    } catch (error) {
      if (rows.length > 1) {
        // One row may be what breaks the pass (a poison job): run each alone, with the same cache
        // instruction, so only the rows that fail by themselves fail and the rest of the batch
        // takes this step as usual.
        for (const row of rows) await this.#runPass({ kind, rows: [row], deferred: 0 });
        return;
      }
      // The pass failed for its one row; decodes outside it keep going.
      for (const { entry } of rows) {
        this.#leave(entry);
        entry.reject(error);
      }
      return;
    }
    const denoiseMs = performance.now() - denoiseStarted;
    // Before any row applies its output: a row that finishes now must free the cache it just kept.
    for (const { entry, keepLength } of rows) this.#ledger?.kept(entry, keepLength);

    const applyStarted = performance.now();
    let realTokens = 0;
    let cachedPositions = 0;
    for (const [r, { entry, cachedLength }] of rows.entries()) {
      realTokens += entry.decode.session.canvas.length - cachedLength;
      cachedPositions += cachedLength;
      this.#applyRow(entry, () => applyRowOutput(entry.decode.session, output, r, batch, cachedLength));
    }
    const applyMs = performance.now() - applyStarted;

    const paddedTokens = batch.batchSize * batch.sequenceLength;
    const stats = this.#stats;
    this.#stats = {
      forwardPasses: stats.forwardPasses + 1,
      rows: stats.rows + batch.batchSize,
      paddedTokens: stats.paddedTokens + paddedTokens,
      realTokens: stats.realTokens + realTokens,
      denoiseMs: stats.denoiseMs + denoiseMs,
      applyMs: stats.applyMs + applyMs,
      cachedPasses: stats.cachedPasses + (kind === 'cached' ? 1 : 0),
    };
    this.#observe({
      step,
      kind,
      cachedPositions,
      sessions,
      sequenceLength: batch.sequenceLength,
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
      this.#leave(entry);
      entry.reject(error);
      return;
    }
    try {
      onStep?.(report);
    } catch {
      // An observer's bug must not stall the other decodes; the step itself happened.
    }
    if (report.finished) {
      this.#leave(entry);
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
