import { grpc } from '@dfleet/proto';

/** OpenAI's error `type` values: clients branch on these, so 4xx and 5xx differ. */
type OpenAiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error';

/**
 * Every error the gateway answers with. One class per failure, each with a stable `code`, the
 * HTTP and gRPC status it maps to, and the request field it is about (`param`).
 */
export abstract class GatewayError extends Error {
  abstract readonly code: string;
  abstract readonly httpStatus: number;
  abstract readonly grpcStatus: grpc.status;
  readonly param: string | null;
  /** Seconds a client should wait before retrying, sent as `Retry-After`. */
  readonly retryAfterSeconds: number | null = null;

  constructor(message: string, param: string | null = null, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.param = param;
  }

  get type(): OpenAiErrorType {
    if (this.httpStatus >= 500) return 'server_error';
    switch (this.httpStatus) {
      case 401:
        return 'authentication_error';
      case 403:
        return 'permission_error';
      case 404:
        return 'not_found_error';
      default:
        return 'invalid_request_error';
    }
  }

  toResponseBody(): { error: { code: string; message: string; param: string | null; type: OpenAiErrorType } } {
    return { error: { code: this.code, message: this.message, param: this.param, type: this.type } };
  }
}

export class InvalidRequestError extends GatewayError {
  readonly code = 'invalid_request';
  readonly httpStatus = 400;
  readonly grpcStatus = grpc.status.INVALID_ARGUMENT;
}

/** No API key, or one the gateway does not know. The message never echoes the key. */
export class AuthenticationError extends GatewayError {
  readonly httpStatus = 401;
  readonly grpcStatus = grpc.status.UNAUTHENTICATED;
  readonly code: 'missing_api_key' | 'invalid_api_key';
  constructor(code: 'missing_api_key' | 'invalid_api_key', message: string) {
    super(message, 'authorization');
    this.code = code;
  }
}

/** The request names a tenant other than its API key's. */
export class TenantMismatchError extends GatewayError {
  readonly code = 'tenant_mismatch';
  readonly httpStatus = 403;
  readonly grpcStatus = grpc.status.PERMISSION_DENIED;
}

/** The API key used up its request rate; `Retry-After` says when the next request is admitted. */
export class RateLimitedError extends GatewayError {
  readonly code = 'rate_limited';
  readonly httpStatus = 429;
  readonly grpcStatus = grpc.status.RESOURCE_EXHAUSTED;
  override readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterMs: number) {
    super(message, null);
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1_000));
  }

  override get type(): 'rate_limit_error' {
    return 'rate_limit_error';
  }
}

export class PromptTooLongError extends GatewayError {
  readonly code = 'prompt_too_long';
  readonly httpStatus = 400;
  readonly grpcStatus = grpc.status.INVALID_ARGUMENT;
  constructor(message: string) {
    super(message, 'prompt');
  }
}

/** `suffix` (fill in the middle) on a model whose manifest does not say it was trained to infill. */
export class SuffixNotSupportedError extends GatewayError {
  readonly code = 'suffix_not_supported';
  readonly httpStatus = 400;
  readonly grpcStatus = grpc.status.INVALID_ARGUMENT;
  constructor(model: string) {
    super(
      `suffix is not supported by model ${model}: its manifest (dfleet-model.json) does not set ` +
        'capabilities.infill, so it was not trained to fill in the middle and would ignore the text after the gap; ' +
        'send suffix: null, or serve a model trained for infilling',
      'suffix',
    );
  }
}

/** POST /v1/chat/completions for a model directory without a chat template. */
export class ChatNotSupportedError extends GatewayError {
  readonly code = 'chat_not_supported';
  readonly httpStatus = 400;
  readonly grpcStatus = grpc.status.INVALID_ARGUMENT;
  constructor(model: string) {
    super(
      `model ${model} has no chat template, so messages cannot be turned into its prompt: add a Jinja ` +
        '"chat_template" to tokenizer_config.json in its model directory (the Hugging Face convention), ' +
        'or use POST /v1/completions with a prompt',
      'model',
    );
  }
}

export class ModelNotFoundError extends GatewayError {
  readonly code = 'model_not_found';
  readonly httpStatus = 404;
  readonly grpcStatus = grpc.status.NOT_FOUND;
  constructor(model: string, served: readonly string[]) {
    super(`model '${model}' does not exist; this gateway serves: ${served.join(', ')}`, 'model');
  }
}

export class JobNotFoundError extends GatewayError {
  readonly code = 'job_not_found';
  readonly httpStatus = 404;
  readonly grpcStatus = grpc.status.NOT_FOUND;
  constructor(jobId: string) {
    super(`job '${jobId}' does not exist (finished jobs are kept for 1 hour, failed ones for 24 hours)`, 'id');
  }
}

/** A file id the caller's tenant has no file under (another tenant's file is not found either). */
export class FileNotFoundError extends GatewayError {
  readonly code = 'file_not_found';
  readonly httpStatus = 404;
  readonly grpcStatus = grpc.status.NOT_FOUND;
  constructor(fileId: string, param = 'file_id') {
    super(`file '${fileId}' does not exist (list yours with GET /v1/files)`, param);
  }
}

/** A batch id the caller's tenant has no batch under. */
export class BatchNotFoundError extends GatewayError {
  readonly code = 'batch_not_found';
  readonly httpStatus = 404;
  readonly grpcStatus = grpc.status.NOT_FOUND;
  constructor(batchId: string) {
    super(`batch '${batchId}' does not exist (list yours with GET /v1/batches)`, 'batch_id');
  }
}

/** The tenant holds as many files as it may (DFLEET_MAX_FILES_PER_TENANT): delete some first. */
export class FileLimitError extends GatewayError {
  readonly code = 'file_limit_reached';
  readonly httpStatus = 400;
  readonly grpcStatus = grpc.status.RESOURCE_EXHAUSTED;
}

/** A batch already finished (or being cancelled) cannot be cancelled. */
export class BatchNotCancellableError extends GatewayError {
  readonly code = 'batch_not_cancellable';
  readonly httpStatus = 400;
  readonly grpcStatus = grpc.status.FAILED_PRECONDITION;
  constructor(batchId: string, status: string) {
    super(`batch '${batchId}' is ${status}; only a validating or in_progress batch can be cancelled`, 'batch_id');
  }
}

export class RouteNotFoundError extends GatewayError {
  readonly code = 'not_found';
  readonly httpStatus = 404;
  readonly grpcStatus = grpc.status.UNIMPLEMENTED;
}

export class UnsupportedMediaTypeError extends GatewayError {
  readonly code = 'unsupported_media_type';
  readonly httpStatus = 415;
  readonly grpcStatus = grpc.status.INVALID_ARGUMENT;
}

export class PayloadTooLargeError extends GatewayError {
  readonly code = 'payload_too_large';
  readonly httpStatus = 413;
  readonly grpcStatus = grpc.status.RESOURCE_EXHAUSTED;
}

/** Redis did not answer in time: the request was not enqueued and may be retried. */
export class QueueUnavailableError extends GatewayError {
  readonly code = 'queue_unavailable';
  readonly httpStatus = 503;
  readonly grpcStatus = grpc.status.UNAVAILABLE;
  override readonly retryAfterSeconds = 1;
}

/**
 * Too many jobs are waiting (all tenants, or this tenant): the request was not enqueued. A client
 * should back off and retry; the cap keeps a backlog from growing without bound in Redis.
 */
export class QueueFullError extends GatewayError {
  readonly code = 'queue_full';
  readonly httpStatus = 429;
  readonly grpcStatus = grpc.status.RESOURCE_EXHAUSTED;
  override readonly retryAfterSeconds = 1;
}

/**
 * No worker serving the request's model has a live heartbeat: an interactive request is refused at
 * once instead of waiting for its timeout (and a client's retries then queueing duplicates).
 */
export class NoWorkerError extends GatewayError {
  readonly code = 'no_worker';
  readonly httpStatus = 503;
  readonly grpcStatus = grpc.status.UNAVAILABLE;
  override readonly retryAfterSeconds = 5;
  constructor(model: string) {
    super(
      `no worker serving model '${model}' is alive (none sent a heartbeat in the last 10 s), so this interactive request was not enqueued; start a worker for it (dfleet up, or the worker app with DFLEET_MODEL_DIR pointing at the model), retry after a few seconds, or send dfleet.priority "batch" to queue the request until a worker comes`,
      'model',
    );
  }
}

export class NotReadyError extends GatewayError {
  readonly code = 'not_ready';
  readonly httpStatus = 503;
  readonly grpcStatus = grpc.status.UNAVAILABLE;
  override readonly retryAfterSeconds = 1;
}

/** The result did not arrive within the request timeout; the job itself keeps running. */
export class GenerationTimeoutError extends GatewayError {
  readonly code = 'timeout';
  readonly httpStatus = 504;
  readonly grpcStatus = grpc.status.DEADLINE_EXCEEDED;
  readonly jobId: string;
  constructor(jobId: string, timeoutMs: number) {
    super(
      `job '${jobId}' did not finish within ${timeoutMs} ms; it is still queued or running: fetch its result with GET /v1/jobs/${jobId}`,
      null,
    );
    this.jobId = jobId;
  }
}

/** A worker reported that the job failed for good (no retry left, or unrecoverable). */
export class GenerationFailedError extends GatewayError {
  readonly code = 'generation_failed';
  readonly httpStatus = 502;
  readonly grpcStatus = grpc.status.INTERNAL;
  readonly workerErrorCode: string;
  readonly jobId: string;
  constructor(jobId: string, workerErrorCode: string, workerMessage: string) {
    super(`job '${jobId}' failed: ${workerErrorCode}: ${workerMessage}`, null);
    this.workerErrorCode = workerErrorCode;
    this.jobId = jobId;
  }
}

/** The job was removed (DELETE /v1/jobs/:id) while this request waited for it. */
export class JobCancelledError extends GatewayError {
  readonly code = 'job_cancelled';
  readonly httpStatus = 409;
  readonly grpcStatus = grpc.status.CANCELLED;
  readonly jobId: string;
  constructor(jobId: string) {
    super(`job '${jobId}' was cancelled before a worker finished it`, null);
    this.jobId = jobId;
  }
}

/** An idempotency key already names a job with a different model, prompt or options. */
export class IdempotencyKeyReusedError extends GatewayError {
  readonly code = 'idempotency_key_reused';
  readonly httpStatus = 422;
  readonly grpcStatus = grpc.status.FAILED_PRECONDITION;
  constructor(jobId: string) {
    super(
      `this idempotency key already names job '${jobId}' with a different model, prompt or options; use a new key for a different request`,
      'idempotency_key',
    );
  }
}

/** Anything unexpected: the details go to the log, not to the client. */
export class InternalGatewayError extends GatewayError {
  readonly code = 'internal_error';
  readonly httpStatus = 500;
  readonly grpcStatus = grpc.status.INTERNAL;
}

/** gRPC metadata keys that carry `code` and `param` next to the status message. */
export const GRPC_ERROR_CODE_KEY = 'dfleet-error-code';
export const GRPC_ERROR_PARAM_KEY = 'dfleet-error-param';

export function toGrpcServiceError(error: GatewayError): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set(GRPC_ERROR_CODE_KEY, error.code);
  if (error.param !== null) metadata.set(GRPC_ERROR_PARAM_KEY, error.param);
  if (error.retryAfterSeconds !== null) metadata.set('retry-after', String(error.retryAfterSeconds));
  return { code: error.grpcStatus, details: error.message, metadata };
}
