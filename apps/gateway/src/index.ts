export { startGateway } from './gateway.ts';
export type { RunningGateway, StartGatewayOptions } from './gateway.ts';
export { gatewayEnv, loadGatewayConfig } from './config.ts';
export type { GatewayConfig } from './config.ts';
export {
  GatewayError,
  InvalidRequestError,
  PromptTooLongError,
  ModelNotFoundError,
  JobNotFoundError,
  RouteNotFoundError,
  UnsupportedMediaTypeError,
  PayloadTooLargeError,
  QueueUnavailableError,
  NotReadyError,
  NoWorkerError,
  GenerationTimeoutError,
  GenerationFailedError,
  JobCancelledError,
  IdempotencyKeyReusedError,
  InternalGatewayError,
  GRPC_ERROR_CODE_KEY,
  GRPC_ERROR_PARAM_KEY,
} from './errors.ts';
export { TENANT_HEADER, DEFAULT_TENANT } from './request-identity.ts';
export type { CompletionResponseBody } from './completion-response.ts';
export type { BatchObject } from './batches/batch-objects.ts';
export { RESULT_REPORT_NOT_ACCEPTED } from './log-messages.ts';
export { WAITING_REQUESTS_METRIC, RUNNING_REQUESTS_METRIC } from './queue-depth-metrics.ts';
export { FORCED_EXIT_MARGIN_MS as GATEWAY_FORCED_EXIT_MARGIN_MS } from './forced-exit-margin.ts';
