export { PrefixCacheUnsupportedError, StepScheduler, SchedulerClosedError } from './step-scheduler.ts';
export type {
  BatchReport,
  DecodeOutcome,
  PassKind,
  PrefixCacheOptions,
  ScheduledDecode,
  StepSchedulerOptions,
  StepSchedulerStats,
  StopReason,
} from './step-scheduler.ts';
export { AdaptiveThresholdPolicy, ADAPTIVE_THRESHOLD_DEFAULTS } from './adaptive-threshold-policy.ts';
export type { AdaptiveThresholdPolicyOptions, AdaptiveThresholdState } from './adaptive-threshold-policy.ts';
