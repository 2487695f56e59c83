import { once } from 'node:events';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { DenoiserClosedError } from './errors.ts';
import {
  createControlBlock,
  createInputBuffer,
  RequestKind,
  Slot,
  type InferenceThreadData,
  type InputBuffer,
  type ReplyMessage,
  type SerializedError,
  type StartupMessage,
} from './inference-channel.mjs';
import type {
  OutputSpec,
  PrefixCacheShape,
  SessionDescription,
  SessionRunInput,
  SessionRunResult,
  SessionRunner,
} from './session-runner.ts';

interface QueuedRun {
  readonly input: SessionRunInput;
  resolve(result: SessionRunResult): void;
  reject(error: Error): void;
}

const THREAD_ENTRY = new URL('./inference-thread.mjs', import.meta.url);
const CLOSE_GRACE_MS = 5_000;
/** Tokens (batchSize * sequenceLength) the first shared input buffer holds; it grows on demand. */
const INITIAL_INPUT_CAPACITY = 4096;

function toError({ name, message }: SerializedError): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/**
 * Runs the session in a `worker_threads` thread it owns, so the owner's event loop keeps
 * turning during a forward pass. The thread does not keep the process alive while idle.
 *
 * A request goes through shared memory (inference-channel.mjs): the ids and mask are written
 * into a shared buffer and the thread, asleep in Atomics.wait, is woken with Atomics.notify. It
 * needs no event-loop turn, message dispatch or structured clone in the thread, which a
 * postMessage per forward pass cost on every decoding step. The reply is a message on a
 * MessageChannel port with the outputs transferred (no copy, no allocation here). Runs go to the
 * thread one at a time; calls made meanwhile queue here. Each reply echoes its request's id, and a
 * reply to any other request than the one in flight closes the denoiser instead of being accepted.
 */
export class WorkerThreadSession implements SessionRunner {
  readonly description: SessionDescription;
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #control: Int32Array;
  #inputs: InputBuffer;
  readonly #queue: QueuedRun[] = [];
  /** The run the thread is working on; it is also `#queue[0]`. */
  #inFlight: QueuedRun | undefined;
  /** The id the thread's reply to `#inFlight` must echo. */
  #inFlightRequestId = 0;
  #closeRequested = false;
  #closedReason: string | undefined;
  readonly #exited: Promise<void>;

  private constructor(
    worker: Worker,
    port: MessagePort,
    control: Int32Array,
    inputs: InputBuffer,
    description: SessionDescription,
  ) {
    this.#worker = worker;
    this.#port = port;
    this.#control = control;
    this.#inputs = inputs;
    this.description = description;
    this.#exited = once(worker, 'exit').then(() => undefined);
    port.on('message', (message: ReplyMessage) => this.#onReply(message));
    // The worker handle, ref'd while a run is in flight, is what keeps the process alive.
    port.unref();
    worker.on('error', (error) => this.#failAll(`the inference thread crashed: ${error.message}`));
    worker.on('exit', (code) => this.#failAll(`the inference thread exited (code ${code})`));
    worker.unref();
  }

  /**
   * Starts the thread and loads the model (a path, or the model's bytes) in it; rejects with the loader's error.
   * `prefixCache`: the model is the cached graph, and the thread keeps the decodes' caches.
   * `threadEntry`: the thread's module; tests replace it with a thread that misbehaves.
   */
  static open(
    model: string | Uint8Array,
    sessionOptions: InferenceSession.SessionOptions,
    outputs: OutputSpec,
    options: { readonly prefixCache?: PrefixCacheShape; readonly threadEntry?: URL } = {},
  ): Promise<WorkerThreadSession> {
    const { prefixCache, threadEntry = THREAD_ENTRY } = options;
    const { port1, port2 } = new MessageChannel();
    const control = createControlBlock();
    const inputs = createInputBuffer(INITIAL_INPUT_CAPACITY);
    // The entry is plain JavaScript, so the thread needs none of the parent's loader flags
    // (`--import tsx`, vitest's): start it clean.
    const worker = new Worker(threadEntry, {
      workerData: {
        ...(typeof model === 'string' ? { modelPath: model } : { modelPath: '(in memory)', modelBytes: model }),
        sessionOptions,
        outputs,
        ...(prefixCache ? { prefixCache } : {}),
        port: port2,
        control: control.buffer,
        inputs: inputs.buffer,
      } satisfies InferenceThreadData,
      transferList: [port2],
      execArgv: [],
    });
    return new Promise((resolve, reject) => {
      const onMessage = (message: StartupMessage): void => {
        cleanup();
        if (message.type === 'ready') {
          resolve(new WorkerThreadSession(worker, port1, control, inputs, message.description));
          return;
        }
        port1.close();
        if (message.type === 'load-failed') {
          reject(toError(message.error));
        } else {
          void worker.terminate();
          reject(new Error(`the inference thread sent ${(message as { type: string }).type} before loading the model`));
        }
      };
      const onError = (error: Error): void => {
        cleanup();
        port1.close();
        reject(error);
      };
      const onExit = (code: number): void => {
        cleanup();
        port1.close();
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
    return new Promise<SessionRunResult>((resolve, reject) => {
      if (this.#inFlight === undefined) {
        // Goes to the thread now: its inputs are copied into shared memory before this returns.
        this.#queue.push({ input, resolve, reject });
        this.#startNext();
      } else {
        // Waits its turn: copy the inputs now, so the caller may reuse its arrays meanwhile.
        const { batchSize, sequenceLength } = input;
        const inputIds = new Int32Array(input.inputIds);
        const attentionMask = new Uint8Array(input.attentionMask);
        const positions = input.positions && {
          perRow: input.positions.perRow,
          values: new Int32Array(input.positions.values),
        };
        const prefixCache = input.prefixCache && {
          cacheIds: new Int32Array(input.prefixCache.cacheIds),
          cachedLengths: new Int32Array(input.prefixCache.cachedLengths),
          keepLengths: new Int32Array(input.prefixCache.keepLengths),
        };
        const releases = input.releases && [...input.releases];
        this.#queue.push({
          input: {
            batchSize,
            sequenceLength,
            inputIds,
            attentionMask,
            ...(positions ? { positions } : {}),
            ...(prefixCache ? { prefixCache } : {}),
            ...(releases ? { releases } : {}),
          },
          resolve,
          reject,
        });
      }
    });
  }

  /** Waits for runs already called, releases the session and ends the thread. */
  async close(): Promise<void> {
    if (this.#closedReason === undefined) {
      this.#closedReason = 'the denoiser was closed';
      this.#worker.ref();
      if (this.#inFlight === undefined) this.#requestClose();
    }
    const timer = setTimeout(() => void this.#worker.terminate(), CLOSE_GRACE_MS);
    try {
      await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Hands the first queued run to the thread; once none is left, asks it to close if close() was called. */
  #startNext(): void {
    const next = this.#queue[0];
    if (next === undefined) {
      if (this.#closedReason === undefined) this.#worker.unref();
      else this.#requestClose();
      return;
    }
    this.#inFlight = next;
    this.#worker.ref();
    const { batchSize, sequenceLength, inputIds, attentionMask, positions, prefixCache, releases } = next.input;
    const size = batchSize * sequenceLength;
    let replaced = 0;
    if (size > this.#inputs.capacity) {
      // The thread is idle (one run at a time), so it picks the new buffer up with this request.
      this.#inputs = createInputBuffer(Math.max(size, 2 * this.#inputs.capacity));
      this.#port.postMessage({ inputs: this.#inputs.buffer });
      replaced = 1;
    }
    this.#inputs.inputIds.set(inputIds);
    this.#inputs.attentionMask.set(attentionMask);
    // A row names at most one position per token, so the positions fit the same capacity.
    if (positions) this.#inputs.positions.set(positions.values);
    if (prefixCache) {
      this.#inputs.cacheIds.set(prefixCache.cacheIds);
      this.#inputs.cachedLengths.set(prefixCache.cachedLengths);
      this.#inputs.keepLengths.set(prefixCache.keepLengths);
    }
    const hasReleases = releases !== undefined && releases.length > 0;
    // After any replaced input buffer: the thread receives the two in this order.
    if (hasReleases) this.#port.postMessage({ releases });
    const control = this.#control;
    control[Slot.POSITIONS_PER_ROW] = positions?.perRow ?? 0;
    control[Slot.PREFIX_CACHE_ROWS] = prefixCache ? 1 : 0;
    control[Slot.RELEASES_POSTED] = hasReleases ? 1 : 0;
    control[Slot.REQUEST_KIND] = RequestKind.RUN;
    control[Slot.BATCH_SIZE] = batchSize;
    control[Slot.SEQUENCE_LENGTH] = sequenceLength;
    control[Slot.INPUTS_REPLACED] = replaced;
    this.#inFlightRequestId = this.#signalRequest();
  }

  #requestClose(): void {
    if (this.#closeRequested) return;
    this.#closeRequested = true;
    this.#control[Slot.REQUEST_KIND] = RequestKind.CLOSE;
    this.#control[Slot.INPUTS_REPLACED] = 0;
    this.#control[Slot.RELEASES_POSTED] = 0;
    this.#signalRequest();
  }

  /** Posts the request written in the control block; returns its id, which the thread's reply echoes. */
  #signalRequest(): number {
    const requestId = (Atomics.add(this.#control, Slot.REQUESTS, 1) + 1) | 0;
    Atomics.notify(this.#control, Slot.REQUESTS);
    return requestId;
  }

  /** Settles the run in flight with the thread's reply and hands the thread the next one. */
  #onReply(message: ReplyMessage): void {
    const run = this.#inFlight;
    if (run === undefined) return;
    this.#inFlight = undefined;
    if (message.requestId !== this.#inFlightRequestId) {
      // The channel is out of step: this reply's logits belong to another batch, possibly of the
      // same shape, so neither it nor any later reply can be trusted.
      this.#failAll(
        `the inference thread answered request ${message.requestId} while request ${this.#inFlightRequestId} ` +
          'was in flight (a bug in the inference channel); create a new denoiser',
      );
      void this.#worker.terminate();
      return;
    }
    this.#queue.shift();
    if (message.type === 'result') {
      run.resolve(message.result);
    } else {
      run.reject(toError(message.error));
    }
    if (!this.#closeRequested) this.#startNext();
  }

  #failAll(reason: string): void {
    this.#closedReason ??= reason;
    this.#closeRequested = true; // the thread is gone: nothing more is posted to it
    // A reply the thread posted before it ended still counts; only the runs it never answered fail.
    const posted = this.#inFlight === undefined ? undefined : receiveMessageOnPort(this.#port);
    if (posted !== undefined) this.#onReply(posted.message as ReplyMessage);
    for (const run of this.#queue.splice(0)) run.reject(new DenoiserClosedError(reason));
    this.#inFlight = undefined;
    this.#port.close();
  }
}
