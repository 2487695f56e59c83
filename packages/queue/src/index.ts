export {
  strategySchema,
  priorityClassSchema,
  requestIdSchema,
  generationOptionsSchema,
  generationJobSchema,
  finishReasonSchema,
  generationResultSchema,
} from './generation-job.ts';
export type {
  StrategyOptions,
  PriorityClass,
  GenerationOptions,
  GenerationJob,
  GenerationJobInput,
  FinishReason,
  GenerationResult,
} from './generation-job.ts';
export { GENERATION_QUEUE, DEFAULT_REDIS_PREFIX, PRIORITY_VALUES } from './queue-names.ts';
export {
  workerHeartbeatSchema,
  HEARTBEAT_TTL_MS,
  heartbeatKey,
  publishHeartbeat,
  removeHeartbeat,
  listLiveWorkers,
} from './worker-heartbeat.ts';
export type { WorkerHeartbeat } from './worker-heartbeat.ts';
export { redisOptionsFor } from './redis-connection.ts';
export { redisEnv, redisUrlSchema } from './redis-env.ts';
export { checkEvictionPolicy, EVICTION_POLICY_SAFE } from './redis-eviction-policy.ts';
export { describeJobFailure, STALLED_TOO_OFTEN_REASON } from './job-failure.ts';
export type { JobFailure } from './job-failure.ts';
export type { EvictionPolicyCheck } from './redis-eviction-policy.ts';
export { cancelRequestKey, CANCEL_REQUEST_TTL_MS } from './cancel-request.ts';
