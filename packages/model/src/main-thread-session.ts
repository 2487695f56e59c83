import type { InferenceSession } from 'onnxruntime-node';
import { createInferenceSession, describeSession, runDenoiserSession } from './session-core.mjs';
import type { SessionDescription, SessionRunInput, SessionRunResult, SessionRunner } from './session-runner.ts';

/**
 * Runs the session on the calling thread. onnxruntime-node 1.30 computes inside session.run()
 * synchronously, so the caller's event loop is blocked for the whole forward pass: use this for
 * short-lived tools (model check, benchmarks comparing the two), not in a queue worker.
 */
export class MainThreadSession implements SessionRunner {
  readonly description: SessionDescription;
  readonly #session: InferenceSession;

  private constructor(session: InferenceSession) {
    this.#session = session;
    this.description = describeSession(session);
  }

  static async open(modelPath: string, sessionOptions: InferenceSession.SessionOptions): Promise<MainThreadSession> {
    return new MainThreadSession(await createInferenceSession(modelPath, sessionOptions));
  }

  run(input: SessionRunInput): Promise<SessionRunResult> {
    return runDenoiserSession(this.#session, input);
  }

  async close(): Promise<void> {
    await this.#session.release();
  }
}
