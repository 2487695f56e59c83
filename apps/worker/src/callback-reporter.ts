import {
  createWorkerCallbackClient,
  type grpc,
  type ProgressReport,
  type ReportAck__Output,
  type ResultReport,
  type StepReport,
  type WorkerCallbackClient,
  type WorkerReport,
} from '@dfleet/proto';
import type { JobLogFields } from '@dfleet/telemetry';
import { RESULT_CALLBACK_GIVEN_UP } from './log-messages.ts';
import type { Logger } from './logger.ts';

/** Where a job's callbacks go and the secret that authenticates them (from the job data). */
export interface CallbackTarget {
  readonly address: string;
  readonly token: string;
  readonly jobId: string;
  /** BullMQ attempt, 1-based. */
  readonly attempt: number;
  /** The job's trace id, for the reporter's log lines; absent when its data carries no trace. */
  readonly traceId?: string;
}

export type ProgressUpdate = Omit<ProgressReport, 'jobId' | 'attempt' | 'callbackToken'>;
export type ResultUpdate = Omit<ResultReport, 'jobId' | 'attempt' | 'callbackToken'>;
export type StepUpdate = Omit<StepReport, 'jobId' | 'attempt' | 'callbackToken'>;

export interface CallbackReporterOptions {
  logger: Logger;
  /** Minimum time between two progress reports of one job. @defaultValue 100 */
  progressIntervalMs?: number;
  /** How long one try of a result waits for the gateway's answer. @defaultValue 2000 */
  callDeadlineMs?: number;
  /** Delays between result attempts; one attempt more than entries. @defaultValue [250, 500, 1000, 2000, 4000] */
  resultRetryDelaysMs?: readonly number[];
  /** Called each time a result is tried again after a transport failure (metrics). */
  onRetry?: () => void;
}

/** What became of a result report. `accepted` is the gateway's answer when it answered at all. */
export type ResultDelivery =
  | { delivered: true; accepted: boolean; reason: string; tries: number }
  | { delivered: false; error: string; tries: number };

/**
 * Reports progress and results to the gateway named in each job over WorkerCallback, on one
 * report stream per gateway.
 *
 * Progress and steps are best effort: never retried, never answered; progress is throttled per
 * job, a streaming job's steps are not. Results are
 * retried with backoff for about ten seconds and then given up; the result is in Redis as the
 * job's return value either way, so a lost callback loses no work. Nothing here throws into the job.
 */
export class CallbackReporter {
  readonly #logger: Logger;
  readonly #progressIntervalMs: number;
  readonly #callDeadlineMs: number;
  readonly #retryDelaysMs: readonly number[];
  readonly #onRetry: (() => void) | undefined;
  /** One stream per gateway address, shared by all jobs of that gateway. */
  readonly #streams = new Map<string, GatewayReportStream>();
  /** When each job last sent progress. */
  readonly #progressSentAt = new Map<string, number>();
  readonly #pendingResults = new Set<Promise<ResultDelivery>>();
  readonly #sleepers = new Set<() => void>();
  #closed = false;

  constructor(options: CallbackReporterOptions) {
    this.#logger = options.logger;
    this.#progressIntervalMs = options.progressIntervalMs ?? 100;
    this.#callDeadlineMs = options.callDeadlineMs ?? 2_000;
    this.#retryDelaysMs = options.resultRetryDelaysMs ?? [250, 500, 1_000, 2_000, 4_000];
    this.#onRetry = options.onRetry;
  }

  /** Sends progress unless this job reported less than the interval ago. `build` runs only when a report is sent. */
  reportProgress(target: CallbackTarget, build: () => ProgressUpdate): void {
    if (this.#closed) return;
    const key = progressKey(target);
    const now = Date.now();
    if (now - (this.#progressSentAt.get(key) ?? 0) < this.#progressIntervalMs) return;
    this.#progressSentAt.set(key, now);
    this.#stream(target.address).sendProgress({
      ...build(),
      jobId: target.jobId,
      attempt: target.attempt,
      callbackToken: target.token,
    });
  }

  /**
   * Sends one step of a streaming job, unthrottled, on the same stream as its result, so a
   * gateway sees every step, in order, before the result. Best effort like progress.
   */
  reportStep(target: CallbackTarget, update: StepUpdate): void {
    if (this.#closed) return;
    this.#stream(target.address).sendStep({
      ...update,
      jobId: target.jobId,
      attempt: target.attempt,
      callbackToken: target.token,
    });
  }

  /** Forgets a job's progress throttle; call when the job is done. */
  forgetJob(target: CallbackTarget): void {
    this.#progressSentAt.delete(progressKey(target));
  }

  /**
   * Sends a final report (result or error), retrying transport failures with backoff. A reply of
   * `accepted: false` is the gateway's answer (duplicate, unknown job) and is not retried.
   * Resolves, never rejects.
   */
  reportResult(target: CallbackTarget, update: ResultUpdate): Promise<ResultDelivery> {
    this.forgetJob(target);
    if (this.#closed) return Promise.resolve(this.#giveUp(target, 'the reporter is closed', 0));
    const delivery = this.#deliverResult(target, update);
    this.#pendingResults.add(delivery);
    void delivery.finally(() => this.#pendingResults.delete(delivery));
    return delivery;
  }

  /**
   * Stops retrying (a report still waiting for its next try gives up now; the result is in
   * Redis and gateways also watch the queue), waits for answers to reports in flight, and closes
   * every stream.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of this.#sleepers) wake();
    await Promise.all([...this.#pendingResults]);
    for (const stream of this.#streams.values()) stream.close();
    this.#streams.clear();
  }

  async #deliverResult(target: CallbackTarget, update: ResultUpdate): Promise<ResultDelivery> {
    const report: ResultReport = {
      ...update,
      jobId: target.jobId,
      attempt: target.attempt,
      callbackToken: target.token,
    };
    for (let tries = 1; ; tries++) {
      try {
        const ack = await this.#stream(target.address).sendResult(report, this.#callDeadlineMs);
        if (!ack.accepted) {
          // "duplicate" is the usual race: the gateway learnt the result from Redis a moment earlier.
          // "unknown_job": that gateway no longer waits for it (restarted, or the job was cancelled);
          // the result stays in Redis. Anything else (a refused token) is worth a warning.
          const level = ack.reason === 'duplicate' ? 'debug' : ack.reason === 'unknown_job' ? 'info' : 'warn';
          this.#logger[level](
            { ...logFieldsOf(target), address: target.address, reason: ack.reason },
            'gateway did not accept the result',
          );
        }
        return { delivered: true, accepted: ack.accepted, reason: ack.reason, tries };
      } catch (error) {
        const delay = this.#retryDelaysMs[tries - 1];
        if (delay !== undefined && !this.#closed) await this.#sleep(delay);
        if (delay === undefined || this.#closed) return this.#giveUp(target, (error as Error).message, tries);
        this.#onRetry?.();
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  #giveUp(target: CallbackTarget, error: string, tries: number): ResultDelivery {
    this.#logger.warn({ ...logFieldsOf(target), address: target.address, err: error, tries }, RESULT_CALLBACK_GIVEN_UP);
    return { delivered: false, error, tries };
  }

  #stream(address: string): GatewayReportStream {
    let stream = this.#streams.get(address);
    if (!stream) {
      stream = new GatewayReportStream(address);
      this.#streams.set(address, stream);
    }
    return stream;
  }
}

type ReportCall = grpc.ClientDuplexStream<WorkerReport, ReportAck__Output>;

interface AwaitedAck {
  readonly call: ReportCall;
  readonly timer: NodeJS.Timeout;
  resolve(ack: ReportAck__Output): void;
  reject(error: Error): void;
}

/**
 * The report stream to one gateway. It opens on the first report and again on the first report
 * after it broke. A stream that breaks, or leaves a result unanswered past its deadline (a gateway
 * gone without a word), is dropped, and every result waiting on it fails its try.
 */
class GatewayReportStream {
  readonly #address: string;
  #client: WorkerCallbackClient;
  #call: ReportCall | null = null;
  /** Results sent and not yet answered, by job id and attempt; the gateway answers in order. */
  readonly #awaiting = new Map<string, AwaitedAck[]>();

  constructor(address: string) {
    this.#address = address;
    this.#client = createWorkerCallbackClient(address);
  }

  sendResult(report: ResultReport, deadlineMs: number): Promise<ReportAck__Output> {
    const call = this.#open();
    const key = ackKey(report.jobId ?? '', report.attempt ?? 0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.#drop(call, new Error(`the gateway did not answer within ${deadlineMs} ms`), { newConnection: true }),
        deadlineMs,
      );
      const waiting = this.#awaiting.get(key);
      if (waiting) waiting.push({ call, timer, resolve, reject });
      else this.#awaiting.set(key, [{ call, timer, resolve, reject }]);
      call.write({ result: report });
    });
  }

  sendProgress(report: ProgressReport): void {
    this.#open().write({ progress: report });
  }

  sendStep(report: StepReport): void {
    this.#open().write({ step: report });
  }

  close(): void {
    const call = this.#call;
    if (call) {
      this.#call = null;
      call.end();
    }
    this.#client.close();
  }

  #open(): ReportCall {
    if (this.#call) return this.#call;
    const call = this.#client.Report();
    call.on('data', (ack: ReportAck__Output) => {
      const key = ackKey(ack.jobId, ack.attempt);
      const waiting = this.#awaiting.get(key);
      const index = waiting?.findIndex((awaited) => awaited.call === call) ?? -1;
      if (!waiting || index === -1) return;
      const [awaited] = waiting.splice(index, 1);
      if (waiting.length === 0) this.#awaiting.delete(key);
      clearTimeout(awaited!.timer);
      awaited!.resolve(ack);
    });
    call.on('error', (error) => this.#drop(call, error));
    call.on('end', () => this.#drop(call, new Error('the gateway ended the report stream')));
    this.#call = call;
    return call;
  }

  #drop(call: ReportCall, error: Error, { newConnection = false } = {}): void {
    if (this.#call === call) {
      this.#call = null;
      call.cancel();
      // No answer at all: the connection may be dead without either end knowing (a NAT or a
      // firewall dropped it, the gateway's host vanished), and the channel would go on using it.
      // A new channel dials a new connection; a broken one grpc-js notices and replaces itself.
      if (newConnection) {
        this.#client.close();
        this.#client = createWorkerCallbackClient(this.#address);
      }
    }
    for (const [key, waiting] of this.#awaiting) {
      const dropped = waiting.filter((awaited) => awaited.call === call);
      if (dropped.length === 0) continue;
      const kept = waiting.filter((awaited) => awaited.call !== call);
      if (kept.length === 0) this.#awaiting.delete(key);
      else this.#awaiting.set(key, kept);
      for (const awaited of dropped) {
        clearTimeout(awaited.timer);
        awaited.reject(error);
      }
    }
  }
}

function ackKey(jobId: string, attempt: number): string {
  return `${jobId}#${attempt}`;
}

function logFieldsOf({ jobId, traceId }: CallbackTarget): JobLogFields {
  return traceId === undefined ? { jobId } : { jobId, traceId };
}

function progressKey(target: CallbackTarget): string {
  return `${target.jobId}#${target.attempt}`;
}
