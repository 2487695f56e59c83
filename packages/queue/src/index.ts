// Installed before anything in this process can close a BullMQ queue (see the file).
import './bullmq-closed-connection-guard.ts';

export {
  strategySchema,
  priorityClassSchema,
  requestIdSchema,
  generationOptionsSchema,
  generationJobSchema,
  finishReasonSchema,
  generationResultSchema,
  tokenLogprobSchema,
} from './generation-job.ts';
export type {
  StrategyOptions,
  PriorityClass,
  GenerationOptions,
  GenerationJob,
  GenerationJobInput,
  FinishReason,
  GenerationResult,
  TokenLogprob,
} from './generation-job.ts';
export { GENERATION_QUEUES, PRIORITY_CLASSES, DEFAULT_REDIS_PREFIX } from './queue-names.ts';
export { GenerationQueues } from './generation-queues.ts';
export type { FoundGenerationJob } from './generation-queues.ts';
export {
  workerHeartbeatSchema,
  HEARTBEAT_TTL_MS,
  heartbeatKey,
  publishHeartbeat,
  removeHeartbeat,
  listLiveWorkers,
  workerDirectoryKey,
} from './worker-heartbeat.ts';
export type { WorkerHeartbeat } from './worker-heartbeat.ts';
export {
  finishedJobSchema,
  finishedJobsKey,
  recordFinishedJob,
  listFinishedJobs,
  FINISHED_JOBS_KEEP_MS,
  FINISHED_JOBS_MAX_ENTRIES,
} from './finished-jobs.ts';
export type { FinishedJob } from './finished-jobs.ts';
export { WAITING_JOB_STATES, RUNNING_JOB_STATES, countIn, readQueueDepths } from './queue-depth.ts';
export type { QueueDepth } from './queue-depth.ts';
export { redisOptionsFor, createRedisConnection } from './redis-connection.ts';
export type { RedisConnection, RedisRole } from './redis-connection.ts';
export { redisEnv, redisUrlSchema, checkRedisTopology, redisTargetOf } from './redis-env.ts';
export { redisHashTag, describeRedisTarget } from './redis-target.ts';
export { redisKeySlot } from './redis-key-slot.ts';
export { waitForReplicas } from './replica-acks.ts';
export type { RedisTarget, RedisNodeAddress } from './redis-target.ts';
export { checkEvictionPolicy, EVICTION_POLICY_SAFE } from './redis-eviction-policy.ts';
export { describeJobFailure, STALLED_TOO_OFTEN_REASON } from './job-failure.ts';
export type { JobFailure } from './job-failure.ts';
export type { EvictionPolicyCheck } from './redis-eviction-policy.ts';
export { cancelRequestKey, CANCEL_REQUEST_TTL_MS } from './cancel-request.ts';
export { tenantWaitingKey, tenantWaitingAuditKey, removeWaitingJob } from './tenant-waiting-jobs.ts';
