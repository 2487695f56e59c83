import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';

/**
 * Span names of one request's trace, in the order they happen. HTTP and gRPC server spans are
 * named by the semantic conventions instead (`POST /v1/completions`, `dfleet.v1.GenerationService/Generate`).
 */
export const SPAN = {
  /** Gateway, producer: admission and the BullMQ add of the request's job. */
  enqueue: 'enqueue',
  /** Worker, from the gateway's accept time to the claim (two hosts' clocks: skew shows here). */
  queueWait: 'queue wait',
  /** Worker, consumer: one attempt at a job, from the claim to the processor's return. */
  job: 'job',
  /** Worker: the job's decode in the shared step scheduler. */
  decode: 'decode',
  /** Worker, client: delivering the result to the gateway, retries included. */
  callbackResult: 'callback result',
  /** Gateway, server: the result report arriving on the WorkerCallback stream. */
  callbackReceipt: 'callback receipt',
} as const;

/** dfleet's own span attributes; the rest use the semantic conventions' names. */
export const ATTR = {
  jobId: 'dfleet.job_id',
  attempt: 'dfleet.attempt',
  tenant: 'dfleet.tenant',
  model: 'dfleet.model',
  priority: 'dfleet.priority',
  workerId: 'dfleet.worker_id',
  strategy: 'dfleet.strategy',
  steps: 'dfleet.steps',
  nfe: 'dfleet.nfe',
  /** Answer tokens decoded. */
  tokens: 'dfleet.tokens',
  /** Rows in the forward passes this job took part in: fewest, mean, most. */
  batchRowsMin: 'dfleet.batch_rows.min',
  batchRowsMean: 'dfleet.batch_rows.mean',
  batchRowsMax: 'dfleet.batch_rows.max',
  /** Threshold-strategy jobs: the threshold decoded with (after the load-adaptive policy). */
  effectiveThreshold: 'dfleet.effective_threshold',
  finishReason: 'dfleet.finish_reason',
  /** Result callbacks: tries it took, and whether the gateway accepted it. */
  callbackTries: 'dfleet.callback.tries',
  callbackAccepted: 'dfleet.callback.accepted',
} as const;

/**
 * The semantic conventions' attribute names dfleet sets. Stable ones come from the package; the
 * messaging ones are still incubating there, and its docs ask users to copy those, not import them.
 */
export const SEMCONV = {
  httpRequestMethod: ATTR_HTTP_REQUEST_METHOD,
  httpRoute: ATTR_HTTP_ROUTE,
  httpResponseStatusCode: ATTR_HTTP_RESPONSE_STATUS_CODE,
  urlPath: ATTR_URL_PATH,
  rpcSystemName: ATTR_RPC_SYSTEM_NAME,
  rpcMethod: ATTR_RPC_METHOD,
  /** The gRPC status name, e.g. `OK`, `RESOURCE_EXHAUSTED`. */
  rpcStatusCode: ATTR_RPC_STATUS_CODE,
  errorType: ATTR_ERROR_TYPE,
  messagingSystem: 'messaging.system',
  messagingDestinationName: 'messaging.destination.name',
  messagingOperationType: 'messaging.operation.type',
  messagingMessageId: 'messaging.message.id',
} as const;
