import type {
  Denoiser,
  DenoiserBatch,
  DenoiserOutput,
  DenoiserOutputForm,
  PrefixCacheRow,
  PrefixCacheSupport,
} from '@dfleet/decoder';
import {
  DenoiserBatchError,
  DenoiserClosedError,
  ModelLoadError,
  ModelOutputError,
  ModelPackageError,
  ModelRunError,
} from './errors.ts';
import { checkDenoiserBatch, checkPrefixCacheRows } from './denoiser-batch-checks.ts';
import { deviceLabel, providerUnavailable, sessionOptionsFor, type ExecutionProvider } from './execution-provider.ts';
import { MainThreadSession } from './main-thread-session.ts';
import type { ModelOutputs } from './model-manifest.ts';
import { prefixCacheBytesPerPosition } from './prefix-cache-contract.ts';
import type {
  OutputSpec,
  PrefixCacheShape,
  SessionRunInput,
  SessionRunner,
  SessionRunResult,
} from './session-runner.ts';
import { WorkerThreadSession } from './worker-thread-session.ts';

export type InferenceThread = 'worker' | 'main';

export interface OnnxDenoiserOptions {
  /** Path of the ONNX file (the model directory's `files.onnx`). */
  readonly modelPath: string;
  /** V: the size of the logits' last axis the model must produce (manifest `vocabSize`). */
  readonly vocabSize: number;
  /**
   * Where the forward pass runs. `'cuda'` and `'webgpu'` throw ExecutionProviderUnavailableError
   * when the provider cannot start on this host.
   * @defaultValue 'cpu'
   */
  readonly executionProvider?: ExecutionProvider;
  /**
   * CUDA device ordinal (as `nvidia-smi` numbers them); ignored on the CPU. WebGPU takes only 0
   * (onnxruntime-node cannot choose a WebGPU adapter).
   * @defaultValue 0
   */
  readonly deviceId?: number;
  /**
   * Threads onnxruntime may use inside one operator.
   * @defaultValue onnxruntime's own choice (one per physical core)
   */
  readonly intraOpNumThreads?: number;
  /**
   * Thread that executes `session.run()`. onnxruntime-node 1.30 computes synchronously on the
   * event loop it is called from, so `'worker'` (a `worker_threads` thread owned by the denoiser)
   * keeps the caller's loop free for lock renewal, gRPC and heartbeats. `'main'` skips the
   * thread hop and blocks the caller's loop for each forward pass.
   * @defaultValue 'worker'
   */
  readonly inferenceThread?: InferenceThread;
  /**
   * Which outputs the ONNX file has (the manifest's `outputs`). With `reduced`, `denoise` returns
   * the model's predictions (at the batch's `positions` when the model takes them) instead of
   * the logits.
   * @defaultValue `{ form: 'logits' }`
   */
  readonly outputs?: ModelOutputs;
  /**
   * The model itself, e.g. a v1 model reduced in memory at load; `modelPath` then only names it
   * in messages.
   */
  readonly modelBytes?: Uint8Array;
  /**
   * The model (`modelPath` / `modelBytes`) is the prefix-cache form (prefix-cache-contract.ts)
   * with this cache shape (the manifest's `prefixCache`): every pass runs on it, and the
   * denoiser keeps the decodes' caches beside the session (`DenoiserBatch.prefixCache`).
   * @defaultValue undefined (the plain graph, no cache)
   */
  readonly prefixCache?: PrefixCacheShape;
}

/** Where the time of one `denoise()` went. */
interface DenoiseTiming {
  /** Milliseconds inside onnxruntime's `session.run()` for this batch. */
  readonly sessionRunMs: number;
  /** Milliseconds of the whole `denoise()` call as the caller saw it (validation, thread hop, copies, run). */
  readonly denoiseMs: number;
  /**
   * With the prefix-cache form: bytes the cache store beside the session held after this pass,
   * as the store counts them (releases made before the call are applied by then).
   */
  readonly prefixCacheBytes?: number;
}

/** `DenoiserOutput` plus where the time went (an extension; the Denoiser contract is unchanged). */
export type OnnxDenoiserOutput = DenoiserOutput & DenoiseTiming;

/** Cumulative timing of a denoiser since it was created. */
export interface OnnxDenoiserStats {
  readonly runs: number;
  readonly totalSessionRunMs: number;
  readonly totalDenoiseMs: number;
  /** `sessionRunMs` of the latest successful call; undefined before the first. */
  readonly lastSessionRunMs: number | undefined;
  readonly lastDenoiseMs: number | undefined;
  /** Bytes of keys and values the prefix caches hold once the passes called so far have run; 0 without the form. */
  readonly prefixCacheBytes: number;
  /** Prefix caches held once the passes called so far have run. */
  readonly prefixCaches: number;
}

/**
 * The Denoiser contract over an onnxruntime-node session: int32 ids and uint8 mask in, float32
 * logits [B, L, V] out, or a reduced model's predictions [B, L] / [B, P]. Calls run one at a time on one session (one CUDA stream): batch rows
 * rather than calling in parallel. Call `close()` when done.
 */
export class OnnxDenoiser implements Denoiser {
  readonly vocabSize: number;
  readonly executionProvider: ExecutionProvider;
  /** `'cpu'`, `'cuda:<deviceId>'` or `'webgpu:<deviceId>'`, e.g. for heartbeats and logs. */
  readonly device: string;
  readonly inferenceThread: InferenceThread;
  readonly outputForm: DenoiserOutputForm;
  /** Present when the model is the prefix-cache form. */
  readonly prefixCache: PrefixCacheSupport | undefined;
  readonly #runner: SessionRunner;
  /**
   * Cache id -> length the store beside the session will hold once every pass called so far has
   * run. Updated when a pass is called (passes run in call order), so a row is checked against
   * what the passes before it leave, without a round trip to the inference thread.
   */
  readonly #cachedLengths = new Map<number, number>();
  /** Caches released since the latest pass was handed to the session; they go with the next one. */
  #pendingReleases: number[] = [];
  #closed = false;
  #stats: Omit<OnnxDenoiserStats, 'prefixCacheBytes' | 'prefixCaches'> = {
    runs: 0,
    totalSessionRunMs: 0,
    totalDenoiseMs: 0,
    lastSessionRunMs: undefined,
    lastDenoiseMs: undefined,
  };

  private constructor(
    runner: SessionRunner,
    vocabSize: number,
    executionProvider: ExecutionProvider,
    deviceId: number,
    inferenceThread: InferenceThread,
    outputForm: DenoiserOutputForm,
    prefixCache: PrefixCacheShape | undefined,
  ) {
    this.#runner = runner;
    this.prefixCache =
      prefixCache === undefined
        ? undefined
        : {
            bytesPerPosition: prefixCacheBytesPerPosition(prefixCache),
            release: (cacheId: number): void => {
              if (this.#cachedLengths.delete(cacheId)) this.#pendingReleases.push(cacheId);
            },
          };
    this.outputForm = outputForm;
    this.vocabSize = vocabSize;
    this.executionProvider = executionProvider;
    this.device = deviceLabel(executionProvider, deviceId);
    this.inferenceThread = inferenceThread;
  }

  /**
   * Loads the model into an onnxruntime session.
   * @throws ExecutionProviderUnavailableError when 'cuda' or 'webgpu' is requested and cannot start here.
   * @throws ModelLoadError when onnxruntime cannot load the file.
   */
  static async create(options: OnnxDenoiserOptions): Promise<OnnxDenoiser> {
    const {
      modelPath,
      vocabSize,
      executionProvider = 'cpu',
      deviceId = 0,
      intraOpNumThreads,
      inferenceThread = 'worker',
      outputs = { form: 'logits' },
      modelBytes,
      prefixCache,
    } = options;
    if (prefixCache !== undefined) {
      for (const [field, value] of Object.entries(prefixCache)) {
        if (!Number.isInteger(value) || value <= 0) {
          throw new RangeError(`prefixCache.${field} must be a positive integer, got ${value}`);
        }
      }
    }
    if (!Number.isInteger(vocabSize) || vocabSize <= 0) {
      throw new RangeError(`vocabSize must be a positive integer, got ${vocabSize}`);
    }
    if (!Number.isInteger(deviceId) || deviceId < 0) {
      throw new RangeError(`deviceId must be an integer >= 0, got ${deviceId}`);
    }
    const sessionOptions = sessionOptionsFor({ executionProvider, deviceId, intraOpNumThreads });
    const spec: OutputSpec =
      outputs.form === 'logits'
        ? { form: 'logits' }
        : { form: 'reduced', topK: outputs.topK, positionsInput: outputs.positionsInput };
    const cacheOption = prefixCache ? { prefixCache: { ...prefixCache } } : {};
    let runner: SessionRunner;
    try {
      runner =
        inferenceThread === 'worker'
          ? await WorkerThreadSession.open(modelBytes ?? modelPath, sessionOptions, spec, cacheOption)
          : await MainThreadSession.open(modelBytes ?? modelPath, sessionOptions, spec, cacheOption);
    } catch (error) {
      const unavailable = providerUnavailable(executionProvider, deviceId, error);
      if (unavailable) throw unavailable;
      throw new ModelLoadError(modelPath, `onnxruntime cannot load ${modelPath}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const outputForm: DenoiserOutputForm =
      spec.form === 'logits'
        ? { form: 'logits' }
        : { form: 'predictions', topK: spec.topK, positions: spec.positionsInput };
    return new OnnxDenoiser(runner, vocabSize, executionProvider, deviceId, inferenceThread, outputForm, prefixCache);
  }

  /** A snapshot of the timing counters and the prefix caches held. */
  get stats(): OnnxDenoiserStats {
    let positions = 0;
    for (const length of this.#cachedLengths.values()) positions += length;
    return {
      ...this.#stats,
      prefixCacheBytes: positions * (this.prefixCache?.bytesPerPosition ?? 0),
      prefixCaches: this.#cachedLengths.size,
    };
  }

  /** `sessionRunMs` of the latest call (shorthand for `stats.lastSessionRunMs`). */
  get lastRunMs(): number | undefined {
    return this.#stats.lastSessionRunMs;
  }

  async denoise(batch: DenoiserBatch): Promise<OnnxDenoiserOutput> {
    if (this.#closed) throw new DenoiserClosedError('cannot denoise: the denoiser was closed');
    const started = performance.now();
    checkDenoiserBatch(batch, this.vocabSize, this.prefixCache !== undefined);
    const { batchSize, sequenceLength } = batch;
    const positions = this.#positionsFor(batch);
    const { prefixCache: rows, ...plain } = batch;
    const input: SessionRunInput = { ...plain, ...(positions ? { positions } : {}) };
    if (this.prefixCache !== undefined) {
      if (rows) {
        checkPrefixCacheRows(batch, rows, this.#cachedLengths);
        input.prefixCache = columns(rows);
        for (const row of rows) if (row.keepLength > 0) this.#cachedLengths.set(row.cacheId, row.keepLength);
      }
      if (this.#pendingReleases.length > 0) {
        input.releases = this.#pendingReleases;
        this.#pendingReleases = [];
      }
    }
    let result: SessionRunResult;
    try {
      result = await this.#runner.run(input);
    } catch (error) {
      // The store drops a cache whose refresh failed (it is stale); so does the mirror.
      for (const row of rows ?? []) if (row.keepLength > 0) this.#cachedLengths.delete(row.cacheId);
      if (error instanceof ModelPackageError) throw error;
      const message = (error as Error).message;
      if ((error as Error).name === 'ModelOutputContractError') throw new ModelOutputError(message, { cause: error });
      if ((error as Error).name === 'PrefixCacheRowError') throw new DenoiserBatchError(message, { cause: error });
      throw new ModelRunError(`onnxruntime failed on a [${batchSize}, ${sequenceLength}] batch: ${message}`, {
        cause: error,
      });
    }
    const output = this.#toOutput(result, batch, positions);
    const { sessionRunMs } = result;
    const denoiseMs = performance.now() - started;
    const stats = this.#stats;
    this.#stats = {
      runs: stats.runs + 1,
      totalSessionRunMs: stats.totalSessionRunMs + sessionRunMs,
      totalDenoiseMs: stats.totalDenoiseMs + denoiseMs,
      lastSessionRunMs: sessionRunMs,
      lastDenoiseMs: denoiseMs,
    };
    const held = result.prefixCacheBytes === undefined ? {} : { prefixCacheBytes: result.prefixCacheBytes };
    return { ...output, sessionRunMs, denoiseMs, ...held };
  }

  /**
   * The positions to feed a model that takes them: the batch's, or every position of every row
   * when the batch names none.
   */
  #positionsFor(batch: DenoiserBatch): { perRow: number; values: Int32Array } | undefined {
    const form = this.outputForm;
    if (form.form !== 'predictions' || !form.positions) return undefined;
    if (batch.positions) return batch.positions;
    const { batchSize, sequenceLength } = batch;
    const values = new Int32Array(batchSize * sequenceLength);
    for (let index = 0; index < values.length; index++) values[index] = index % sequenceLength;
    return { perRow: sequenceLength, values };
  }

  #toOutput(
    result: SessionRunResult,
    batch: DenoiserBatch,
    positions: { perRow: number; values: Int32Array } | undefined,
  ): DenoiserOutput {
    const { batchSize, sequenceLength } = batch;
    const { vocabSize } = this;
    const { dims } = result;
    if (result.form === 'logits') {
      if (dims.length !== 3 || dims[0] !== batchSize || dims[1] !== sequenceLength || dims[2] !== vocabSize) {
        throw new ModelOutputError(
          `logits have shape [${dims.join(', ')}], expected [${batchSize}, ${sequenceLength}, ${vocabSize}] ` +
            '(batch, sequence, vocabSize from the manifest)',
        );
      }
      return { form: 'logits', batchSize, sequenceLength, vocabSize, logits: result.logits };
    }
    const perRow = positions?.perRow ?? sequenceLength;
    const topK = this.outputForm.form === 'predictions' ? this.outputForm.topK : 0;
    const sized = (length: number | undefined, width: number): boolean => length === batchSize * perRow * width;
    if (
      dims.length !== 2 ||
      dims[0] !== batchSize ||
      dims[1] !== perRow ||
      !sized(result.confidence.length, 1) ||
      !sized(result.entropy.length, 1) ||
      (topK > 0 && (!sized(result.topKIds?.length, topK) || !sized(result.topKLogits?.length, topK)))
    ) {
      throw new ModelOutputError(
        `top_token has shape [${dims.join(', ')}], expected [${batchSize}, ${perRow}] ` +
          `(batch, ${positions ? 'positions' : 'sequence'}), with top_confidence, entropy${topK > 0 ? ` and top-${topK}` : ''} alike`,
      );
    }
    return {
      form: 'predictions',
      batchSize,
      perRow,
      ...(positions ? { positions: positions.values } : {}),
      token: result.token,
      confidence: result.confidence,
      entropy: result.entropy,
      topK,
      ...(result.topKIds ? { topKIds: result.topKIds } : {}),
      ...(result.topKLogits ? { topKLogits: result.topKLogits } : {}),
    };
  }

  /** Waits for calls in flight, releases the session and, in worker mode, ends the thread. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#runner.close();
  }
}

function columns(rows: readonly PrefixCacheRow[]): NonNullable<SessionRunInput['prefixCache']> {
  return {
    cacheIds: Int32Array.from(rows, (row) => row.cacheId),
    cachedLengths: Int32Array.from(rows, (row) => row.cachedLength),
    keepLengths: Int32Array.from(rows, (row) => row.keepLength),
  };
}
