import type { InferenceSession } from 'onnxruntime-node';
import type { PrefixCacheStore } from './prefix-cache-store.mjs';
import {
  createInferenceSession,
  createPrefixCacheStore,
  describeSession,
  runDenoiserSession,
} from './session-core.mjs';
import type {
  OutputSpec,
  PrefixCacheShape,
  SessionDescription,
  SessionRunInput,
  SessionRunResult,
  SessionRunner,
} from './session-runner.ts';

/**
 * Runs the session on the calling thread. onnxruntime-node 1.30 computes inside session.run()
 * synchronously, so the caller's event loop is blocked for the whole forward pass: use this for
 * short-lived tools (model check, benchmarks comparing the two), not in a queue worker.
 */
export class MainThreadSession implements SessionRunner {
  readonly description: SessionDescription;
  readonly #session: InferenceSession;
  readonly #outputs: OutputSpec;
  readonly #store: PrefixCacheStore | undefined;
  /** Settles when the latest pass called has run (with a store only). */
  #tail: Promise<void> = Promise.resolve();

  private constructor(session: InferenceSession, outputs: OutputSpec, prefixCache: PrefixCacheShape | undefined) {
    this.#session = session;
    this.#outputs = outputs;
    this.#store = createPrefixCacheStore(prefixCache);
    this.description = describeSession(session);
  }

  static async open(
    model: string | Uint8Array,
    sessionOptions: InferenceSession.SessionOptions,
    outputs: OutputSpec,
    options: { readonly prefixCache?: PrefixCacheShape } = {},
  ): Promise<MainThreadSession> {
    return new MainThreadSession(await createInferenceSession(model, sessionOptions), outputs, options.prefixCache);
  }

  run(input: SessionRunInput): Promise<SessionRunResult> {
    if (this.#store === undefined) return runDenoiserSession(this.#session, input, this.#outputs);
    // A pass reads the caches the passes called before it keep, so passes run in call order,
    // one at a time, as they do in the inference thread.
    const store = this.#store;
    // Copied now: the caller may reuse its arrays while the pass waits its turn.
    const queued: SessionRunInput = {
      ...input,
      inputIds: Int32Array.from(input.inputIds),
      attentionMask: Uint8Array.from(input.attentionMask),
      ...(input.positions
        ? { positions: { perRow: input.positions.perRow, values: Int32Array.from(input.positions.values) } }
        : {}),
    };
    const run = this.#tail.then(() => runDenoiserSession(this.#session, queued, this.#outputs, store));
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async close(): Promise<void> {
    await this.#session.release();
  }
}
