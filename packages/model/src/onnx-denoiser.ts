import type { Denoiser, DenoiserBatch, DenoiserOutput } from '@dfleet/decoder';
import {
  DenoiserBatchError,
  DenoiserClosedError,
  ModelLoadError,
  ModelOutputError,
  ModelPackageError,
  ModelRunError,
} from './errors.ts';
import { deviceLabel, providerUnavailable, sessionOptionsFor, type ExecutionProvider } from './execution-provider.ts';
import { MainThreadSession } from './main-thread-session.ts';
import type { SessionRunner } from './session-runner.ts';
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
}

/** `DenoiserOutput` plus where the time went (an extension; the Denoiser contract is unchanged). */
export interface OnnxDenoiserOutput extends DenoiserOutput {
  /** Milliseconds inside onnxruntime's `session.run()` for this batch. */
  readonly sessionRunMs: number;
  /** Milliseconds of the whole `denoise()` call as the caller saw it (validation, thread hop, copies, run). */
  readonly denoiseMs: number;
}

/** Cumulative timing of a denoiser since it was created. */
export interface OnnxDenoiserStats {
  readonly runs: number;
  readonly totalSessionRunMs: number;
  readonly totalDenoiseMs: number;
  /** `sessionRunMs` of the latest successful call; undefined before the first. */
  readonly lastSessionRunMs: number | undefined;
  readonly lastDenoiseMs: number | undefined;
}

/**
 * The Denoiser contract over an onnxruntime-node session: int32 ids and uint8 mask in, float32
 * logits [B, L, V] out. Calls run one at a time on one session (one CUDA stream): batch rows
 * rather than calling in parallel. Call `close()` when done.
 */
export class OnnxDenoiser implements Denoiser {
  readonly vocabSize: number;
  readonly executionProvider: ExecutionProvider;
  /** `'cpu'`, `'cuda:<deviceId>'` or `'webgpu:<deviceId>'`, e.g. for heartbeats and logs. */
  readonly device: string;
  readonly inferenceThread: InferenceThread;
  readonly #runner: SessionRunner;
  #closed = false;
  #stats: OnnxDenoiserStats = {
    runs: 0,
    totalSessionRunMs: 0,
    totalDenoiseMs: 0,
    lastSessionRunMs: undefined,
    lastDenoiseMs: undefined,
  };

  private constructor(runner: SessionRunner, vocabSize: number, executionProvider: ExecutionProvider, deviceId: number, inferenceThread: InferenceThread) {
    this.#runner = runner;
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
    } = options;
    if (!Number.isInteger(vocabSize) || vocabSize <= 0) {
      throw new RangeError(`vocabSize must be a positive integer, got ${vocabSize}`);
    }
    if (!Number.isInteger(deviceId) || deviceId < 0) {
      throw new RangeError(`deviceId must be an integer >= 0, got ${deviceId}`);
    }
    const sessionOptions = sessionOptionsFor({ executionProvider, deviceId, intraOpNumThreads });
    let runner: SessionRunner;
    try {
      runner =
        inferenceThread === 'worker'
          ? await WorkerThreadSession.open(modelPath, sessionOptions)
          : await MainThreadSession.open(modelPath, sessionOptions);
    } catch (error) {
      const unavailable = providerUnavailable(executionProvider, deviceId, error);
      if (unavailable) throw unavailable;
      throw new ModelLoadError(modelPath, `onnxruntime cannot load ${modelPath}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return new OnnxDenoiser(runner, vocabSize, executionProvider, deviceId, inferenceThread);
  }

  /** A snapshot of the timing counters. */
  get stats(): OnnxDenoiserStats {
    return { ...this.#stats };
  }

  /** `sessionRunMs` of the latest call (shorthand for `stats.lastSessionRunMs`). */
  get lastRunMs(): number | undefined {
    return this.#stats.lastSessionRunMs;
  }

  async denoise(batch: DenoiserBatch): Promise<OnnxDenoiserOutput> {
    if (this.#closed) throw new DenoiserClosedError('cannot denoise: the denoiser was closed');
    const started = performance.now();
    this.#validate(batch);
    const { batchSize, sequenceLength } = batch;
    const { vocabSize } = this;
    let result;
    try {
      result = await this.#runner.run(batch);
    } catch (error) {
      if (error instanceof ModelPackageError) throw error;
      const message = (error as Error).message;
      if ((error as Error).name === 'ModelOutputContractError') throw new ModelOutputError(message, { cause: error });
      throw new ModelRunError(`onnxruntime failed on a [${batchSize}, ${sequenceLength}] batch: ${message}`, {
        cause: error,
      });
    }
    const { dims, logits, sessionRunMs } = result;
    if (dims.length !== 3 || dims[0] !== batchSize || dims[1] !== sequenceLength || dims[2] !== vocabSize) {
      throw new ModelOutputError(
        `logits have shape [${dims.join(', ')}], expected [${batchSize}, ${sequenceLength}, ${vocabSize}] ` +
          '(batch, sequence, vocabSize from the manifest)',
      );
    }
    const denoiseMs = performance.now() - started;
    const stats = this.#stats;
    this.#stats = {
      runs: stats.runs + 1,
      totalSessionRunMs: stats.totalSessionRunMs + sessionRunMs,
      totalDenoiseMs: stats.totalDenoiseMs + denoiseMs,
      lastSessionRunMs: sessionRunMs,
      lastDenoiseMs: denoiseMs,
    };
    return { batchSize, sequenceLength, vocabSize, logits, sessionRunMs, denoiseMs };
  }

  /** Waits for calls in flight, releases the session and, in worker mode, ends the thread. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#runner.close();
  }

  #validate(batch: DenoiserBatch): void {
    const { batchSize, sequenceLength, inputIds, attentionMask } = batch;
    if (!Number.isInteger(batchSize) || batchSize <= 0 || !Number.isInteger(sequenceLength) || sequenceLength <= 0) {
      throw new DenoiserBatchError(
        `batchSize and sequenceLength must be positive integers, got [${batchSize}, ${sequenceLength}]`,
      );
    }
    const size = batchSize * sequenceLength;
    if (!(inputIds instanceof Int32Array) || inputIds.length !== size) {
      throw new DenoiserBatchError(
        `inputIds must be an Int32Array of batchSize * sequenceLength = ${size} ids, got ${describeArray(inputIds)}`,
      );
    }
    if (!(attentionMask instanceof Uint8Array) || attentionMask.length !== size) {
      throw new DenoiserBatchError(
        `attentionMask must be a Uint8Array of batchSize * sequenceLength = ${size} flags, got ${describeArray(attentionMask)}`,
      );
    }
    // An id outside the embedding table is an error on the CPU and undefined behaviour on CUDA.
    for (let index = 0; index < size; index++) {
      const id = inputIds[index]!;
      if (id < 0 || id >= this.vocabSize) {
        const row = Math.floor(index / sequenceLength);
        throw new DenoiserBatchError(
          `inputIds[row ${row}, position ${index - row * sequenceLength}] = ${id} is outside [0, vocabSize=${this.vocabSize})`,
        );
      }
    }
  }
}

function describeArray(value: unknown): string {
  if (ArrayBuffer.isView(value) && 'length' in value) return `${value.constructor.name} of ${String(value.length)}`;
  if (Array.isArray(value)) return `Array of ${value.length}`;
  return value === null ? 'null' : typeof value;
}
