import type { InferenceSession } from 'onnxruntime-node';
import { createInferenceSession, describeSession, runDenoiserSession } from './session-core.mjs';
import type {
  OutputSpec,
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

  private constructor(session: InferenceSession, outputs: OutputSpec) {
    this.#session = session;
    this.#outputs = outputs;
    this.description = describeSession(session);
  }

  static async open(
    model: string | Uint8Array,
    sessionOptions: InferenceSession.SessionOptions,
    outputs: OutputSpec,
  ): Promise<MainThreadSession> {
    return new MainThreadSession(await createInferenceSession(model, sessionOptions), outputs);
  }

  run(input: SessionRunInput): Promise<SessionRunResult> {
    return runDenoiserSession(this.#session, input, this.#outputs);
  }

  async close(): Promise<void> {
    await this.#session.release();
  }
}
