export { startWorker } from './worker.ts';
export type { RunningWorker, StartWorkerOptions } from './worker.ts';
export { loadWorkerConfig, WorkerConfigError } from './config.ts';
export type { WorkerConfig, LogLevel } from './config.ts';
export { StepScheduler, SchedulerClosedError } from './step-scheduler.ts';
export { AdaptiveThresholdPolicy, ADAPTIVE_THRESHOLD_DEFAULTS } from './adaptive-threshold-policy.ts';
export type { AdaptiveThresholdPolicyOptions, AdaptiveThresholdState } from './adaptive-threshold-policy.ts';
export type {
  BatchReport,
  DecodeOutcome,
  ScheduledDecode,
  StepSchedulerOptions,
  StepSchedulerStats,
  StopReason,
} from './step-scheduler.ts';
export { InvalidJobError, JobRejectedError, ModelMismatchError, ModelUnavailableError, PromptTooLongError } from './errors.ts';
export { JOB_FAILED, JOBS_HANDED_BACK_AT_SHUTDOWN, RESULT_CALLBACK_GIVEN_UP } from './log-messages.ts';
