import { UnrecoverableError } from 'bullmq';

/**
 * Job failures that no retry can fix. They extend BullMQ's UnrecoverableError so the job fails
 * at once; `code` is what the worker reports to the gateway as `error_code`, and the message
 * starts with it so `failedReason` in Redis carries it too.
 */
export abstract class JobRejectedError extends UnrecoverableError {
  abstract readonly code: string;
}

/** The job's data does not follow generationJobSchema, or the decoder refuses its options. */
export class InvalidJobError extends JobRejectedError {
  readonly code = 'invalid_job';
  /** Dotted path of the offending job field, e.g. `options.strategy.steps`. */
  readonly field: string;

  constructor(field: string, message: string) {
    super(`invalid_job: ${field}: ${message}`);
    this.field = field;
  }
}

/** The job asks for a model this worker does not serve. */
export class ModelMismatchError extends JobRejectedError {
  readonly code = 'model_mismatch';

  constructor(requested: string, served: string) {
    super(`model_mismatch: the job asks for model '${requested}' but this worker serves '${served}'`);
  }
}

/** bos + prompt + maxNewTokens does not fit the model's maxSequenceLength. */
export class PromptTooLongError extends JobRejectedError {
  readonly code = 'prompt_too_long';

  constructor(message: string) {
    super(`prompt_too_long: ${message}`);
  }
}

/** The worker could not start: its model directory does not load. */
export class ModelUnavailableError extends Error {
  readonly code = 'model_unavailable';
  readonly modelDir: string;

  constructor(modelDir: string, problem: string, options?: { cause?: unknown }) {
    super(`cannot load the model in ${modelDir}: ${problem}`, options);
    this.name = 'ModelUnavailableError';
    this.modelDir = modelDir;
  }
}

/** The worker could not start: `DFLEET_DEVICE` names a device this host cannot run the model on. */
export class DeviceUnavailableError extends Error {
  /** The model package's reason, e.g. `vulkan_loader_missing` or `execution_provider_unavailable`. */
  readonly code: string;
  readonly device: string;

  constructor(device: string, code: string, problem: string, options?: { cause?: unknown }) {
    super(`cannot use DFLEET_DEVICE=${device} (${code}): ${problem}`, options);
    this.name = 'DeviceUnavailableError';
    this.code = code;
    this.device = device;
  }
}
