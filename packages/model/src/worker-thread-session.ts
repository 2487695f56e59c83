import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { DenoiserClosedError } from './errors.ts';
import type { SessionDescription, SessionRunInput, SessionRunResult, SessionRunner } from './session-runner.ts';

/** Messages the inference thread (inference-thread.mjs) posts back. */
type ThreadMessage =
  | { type: 'ready'; description: SessionDescription }
  | { type: 'load-failed'; error: SerializedError }
  | { type: 'result'; requestId: number; dims: number[]; logits: Float32Array; sessionRunMs: number }
  | { type: 'run-failed'; requestId: number; error: SerializedError };

interface SerializedError {
  name: string;
  message: string;
}

interface PendingRun {
  resolve(result: SessionRunResult): void;
  reject(error: Error): void;
}

const THREAD_ENTRY = new URL('./inference-thread.mjs', import.meta.url);
const CLOSE_GRACE_MS = 5_000;

function toError({ name, message }: SerializedError): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/**
 * Runs the session in a `worker_threads` thread it owns, so the owner's event loop keeps
 * turning during a forward pass. Inputs are copied once and transferred (B*L ints, small); logits come
 * back as a transferred buffer (no copy). The thread does not keep the process alive while idle.
 */
export class WorkerThreadSession implements SessionRunner {
  readonly description: SessionDescription;
  readonly #worker: Worker;
  readonly #pending = new Map<number, PendingRun>();
  #nextRequestId = 1;
  #closedReason: string | undefined;
  #exited: Promise<void>;

  private constructor(worker: Worker, description: SessionDescription) {
    this.#worker = worker;
    this.description = description;
    this.#exited = once(worker, 'exit').then(() => undefined);
    worker.on('message', (message: ThreadMessage) => this.#onMessage(message));
    worker.on('error', (error) => this.#failAll(`the inference thread crashed: ${error.message}`));
    worker.on('exit', (code) => this.#failAll(`the inference thread exited (code ${code})`));
    worker.unref();
  }

  /** Starts the thread and loads the model in it; rejects with the loader's error. */
  static open(modelPath: string, sessionOptions: InferenceSession.SessionOptions): Promise<WorkerThreadSession> {
    // The entry is plain JavaScript, so the thread needs none of the parent's loader flags
    // (`--import tsx`, vitest's): start it clean.
    const worker = new Worker(THREAD_ENTRY, { workerData: { modelPath, sessionOptions }, execArgv: [] });
    return new Promise((resolve, reject) => {
      const onMessage = (message: ThreadMessage): void => {
        cleanup();
        if (message.type === 'ready') {
          resolve(new WorkerThreadSession(worker, message.description));
        } else if (message.type === 'load-failed') {
          reject(toError(message.error));
        } else {
          void worker.terminate();
          reject(new Error(`the inference thread sent ${message.type} before loading the model`));
        }
      };
      const onError = (error: Error): void => {
        cleanup();
        reject(error);
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new Error(`the inference thread exited (code ${code}) before loading the model`));
      };
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  run(input: SessionRunInput): Promise<SessionRunResult> {
    if (this.#closedReason !== undefined) {
      return Promise.reject(new DenoiserClosedError(`cannot run: ${this.#closedReason}`));
    }
    const requestId = this.#nextRequestId++;
    const { batchSize, sequenceLength } = input;
    // Own copies, transferred: the caller keeps its arrays, and a view into a larger buffer
    // does not drag that whole buffer through structured clone.
    const inputIds = Int32Array.from(input.inputIds);
    const attentionMask = Uint8Array.from(input.attentionMask);
    return new Promise<SessionRunResult>((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(requestId, { resolve, reject });
      this.#worker.postMessage({ type: 'run', requestId, batchSize, sequenceLength, inputIds, attentionMask }, [
        inputIds.buffer,
        attentionMask.buffer,
      ]);
    });
  }

  /** Waits for runs already posted, releases the session and ends the thread. */
  async close(): Promise<void> {
    if (this.#closedReason === undefined) {
      this.#closedReason = 'the denoiser was closed';
      this.#worker.ref();
      this.#worker.postMessage({ type: 'close' });
    }
    const timer = setTimeout(() => void this.#worker.terminate(), CLOSE_GRACE_MS);
    try {
      await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }

  #onMessage(message: ThreadMessage): void {
    if (message.type !== 'result' && message.type !== 'run-failed') return;
    const pending = this.#pending.get(message.requestId);
    if (pending === undefined) return;
    this.#pending.delete(message.requestId);
    if (this.#pending.size === 0 && this.#closedReason === undefined) this.#worker.unref();
    if (message.type === 'result') {
      pending.resolve({ dims: message.dims, logits: message.logits, sessionRunMs: message.sessionRunMs });
    } else {
      pending.reject(toError(message.error));
    }
  }

  #failAll(reason: string): void {
    this.#closedReason ??= reason;
    for (const pending of this.#pending.values()) pending.reject(new DenoiserClosedError(reason));
    this.#pending.clear();
  }
}
