import type { CompletionRequest } from './completion-request.ts';
import type { FinishedGeneration } from './completion-response.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';

/** When a completion was accepted, on the monotonic clock (`performance.now()`). */
export type AcceptedAt = number;

const secondsSince = (acceptedAt: AcceptedAt) => (performance.now() - acceptedAt) / 1000;

/**
 * What the gateway records about the completions it answers: latencies, tokens and outcomes.
 * Labels name the model and priority class only; never the tenant or the prompt.
 */
export class RequestMetrics {
  readonly #metrics: GatewayMetrics['metrics'];

  constructor(metrics: GatewayMetrics['metrics']) {
    this.#metrics = metrics;
  }

  /** A completion answered with its result. */
  answered(request: CompletionRequest, { result }: FinishedGeneration, acceptedAt: AcceptedAt): void {
    const model = request.model.name;
    const byClass = { model, priority: request.priority };
    const m = this.#metrics;
    m.e2eLatency.observe(byClass, secondsSince(acceptedAt));
    m.queueTime.observe(byClass, result.queueMs / 1000);
    m.promptTokens.inc({ model }, result.promptTokens);
    m.generationTokens.inc({ model }, result.tokenIds.length);
    m.requestSuccess.inc({ model, finish_reason: result.finishReason });
  }

  /** A streaming completion sent its first final answer tokens. */
  firstTokens(request: CompletionRequest, acceptedAt: AcceptedAt): void {
    this.#metrics.timeToFirstToken.observe(
      { model: request.model.name, priority: request.priority },
      secondsSince(acceptedAt),
    );
  }

  /** An error reply, HTTP or gRPC, by the gateway's error code. */
  failed(code: string): void {
    this.#metrics.requestFailure.inc({ code });
  }
}
