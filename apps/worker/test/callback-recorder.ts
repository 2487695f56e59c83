import {
  grpc,
  loadDfleetProtos,
  type ProgressReport__Output,
  type ResultReport__Output,
  type StepReport__Output,
  type WorkerCallbackHandlers,
  type WorkerReport__Output,
} from '@dfleet/proto';

/**
 * A real WorkerCallback gRPC server on loopback, standing in for the gateway: it accepts a
 * report only with the token it was told the job carries, and records everything it receives.
 */
export class CallbackRecorder {
  readonly progress: ProgressReport__Output[] = [];
  readonly results: ResultReport__Output[] = [];
  readonly steps: StepReport__Output[] = [];
  /** Every report's kind and job, in the order they arrived. */
  readonly arrivals: { readonly kind: 'progress' | 'step' | 'result'; readonly jobId: string }[] = [];
  /** Report streams workers opened to this server. */
  streamsOpened = 0;
  /** While true, results are recorded but never answered (a gateway that hangs). */
  silent = false;
  readonly #tokens = new Map<string, string>();
  readonly #resultWaiters = new Map<string, ((report: ResultReport__Output) => void)[]>();
  readonly #server = new grpc.Server();
  address = '';

  async start(): Promise<void> {
    const handlers: WorkerCallbackHandlers = {
      Report: (call) => {
        this.streamsOpened++;
        call.on('data', ({ progress, step, result }: WorkerReport__Output) => {
          if (progress) {
            this.progress.push(progress);
            this.arrivals.push({ kind: 'progress', jobId: progress.jobId });
          }
          if (step) {
            this.steps.push(step);
            this.arrivals.push({ kind: 'step', jobId: step.jobId });
          }
          if (!result) return;
          this.arrivals.push({ kind: 'result', jobId: result.jobId });
          this.results.push(result);
          if (!this.silent)
            call.write({
              jobId: result.jobId,
              attempt: result.attempt,
              ...this.#check(result.jobId, result.callbackToken),
            });
          for (const resolve of this.#resultWaiters.get(result.jobId)?.splice(0) ?? []) resolve(result);
        });
        call.on('end', () => call.end());
        call.on('error', () => undefined);
      },
    };
    this.#server.addService(loadDfleetProtos().workerCallback.dfleet.v1.WorkerCallback.service, handlers);
    const port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    this.address = `127.0.0.1:${port}`;
  }

  /** Registers the secret a job carries; reports with another token are refused. */
  expect(jobId: string, token: string): void {
    this.#tokens.set(jobId, token);
  }

  /** Resolves with the job's first result report (already received or still to come). */
  resultOf(jobId: string): Promise<ResultReport__Output> {
    const received = this.results.find((report) => report.jobId === jobId);
    if (received) return Promise.resolve(received);
    return new Promise((resolve) => {
      const waiters = this.#resultWaiters.get(jobId) ?? [];
      waiters.push(resolve);
      this.#resultWaiters.set(jobId, waiters);
    });
  }

  /** Resolves once the job reported progress at least once. */
  async firstProgressOf(jobId: string): Promise<ProgressReport__Output> {
    for (;;) {
      const report = this.progress.find((entry) => entry.jobId === jobId);
      if (report) return report;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  stop(): void {
    this.#server.forceShutdown();
  }

  #check(jobId: string, token: string): { accepted: boolean; reason: string } {
    const expected = this.#tokens.get(jobId);
    if (expected === undefined) return { accepted: false, reason: 'unknown job' };
    return expected === token ? { accepted: true, reason: '' } : { accepted: false, reason: 'wrong token' };
  }
}
