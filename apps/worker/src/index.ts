export { startWorker } from './worker.ts';
export type { RunningWorker, StartWorkerOptions, WorkerModel } from './worker.ts';
export { loadWorkerConfig, workerEnv } from './config.ts';
export type { WorkerConfig } from './config.ts';
export {
  DeviceUnavailableError,
  InvalidJobError,
  JobRejectedError,
  ModelMismatchError,
  ModelUnavailableError,
  PromptTooLongError,
} from './errors.ts';
export { JOB_FAILED, JOBS_HANDED_BACK_AT_SHUTDOWN, RESULT_CALLBACK_GIVEN_UP } from './log-messages.ts';
