export { StepScheduler } from './step-scheduler.ts';
export { PrefixCacheUnsupportedError, SchedulerClosedError } from './errors.ts';
export type { DecodeOutcome, ScheduledDecode, StopReason } from './scheduled-decode.ts';
export type { BatchReport, PassKind, StepSchedulerStats } from './batch-report.ts';
export type { PrefixCacheOptions, StepSchedulerOptions } from './step-scheduler-options.ts';
export { AdaptiveThresholdPolicy, ADAPTIVE_THRESHOLD_DEFAULTS } from './adaptive-threshold-policy.ts';
export type { AdaptiveThresholdPolicyOptions, AdaptiveThresholdState } from './adaptive-threshold-policy.ts';
