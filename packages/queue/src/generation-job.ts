import { decodingStrategySchema } from '@dfleet/decoder';
import { z } from 'zod';

/**
 * Decoding strategy and knobs as a job carries them: the decoder's strategy contract, so names,
 * defaults and ranges are the ones the decoder enforces.
 */
export const strategySchema = decodingStrategySchema;
export type StrategyOptions = z.infer<typeof strategySchema>;

export const priorityClassSchema = z.enum(['interactive', 'batch']);
export type PriorityClass = z.infer<typeof priorityClassSchema>;

/**
 * BullMQ job ids must not contain ':' and must not be all digits; request ids are generated
 * as `gen-<uuid>` or derived from an Idempotency-Key, never raw user text.
 */
export const requestIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.-]+$/, 'only letters, digits, "_", "." and "-"')
  .refine((id) => !/^\d+$/.test(id), 'must not be all digits');

export const generationOptionsSchema = z.object({
  maxNewTokens: z.number().int().positive(),
  blockLength: z.number().int().positive(),
  strategy: strategySchema,
  temperature: z.number().nonnegative().finite(),
  seed: z.number().int().nonnegative(),
  maxSteps: z.number().int().positive().optional(),
  stop: z.array(z.string().min(1)).max(8).default([]),
  /** Epoch milliseconds after which the worker stops decoding with finish reason "deadline". */
  deadlineAt: z.number().int().positive().optional(),
});
export type GenerationOptions = z.infer<typeof generationOptionsSchema>;

/** Everything a worker needs to run one generation and report it back. Validated at both ends. */
export const generationJobSchema = z.object({
  requestId: requestIdSchema,
  tenant: z.string().min(1).max(128),
  model: z.string().min(1),
  prompt: z.string(),
  options: generationOptionsSchema,
  priority: priorityClassSchema,
  callback: z.object({
    /** host:port of the accepting gateway's WorkerCallback gRPC server. */
    address: z.string().min(1),
    /** Per-job secret; the gateway accepts callbacks only with it. */
    token: z.string().min(16),
  }),
  /** W3C trace context carrier (traceparent, tracestate). */
  traceContext: z.record(z.string(), z.string()).default({}),
  acceptedAt: z.number().int().positive(),
});
export type GenerationJob = z.infer<typeof generationJobSchema>;
export type GenerationJobInput = z.input<typeof generationJobSchema>;

export const finishReasonSchema = z.enum(['eos', 'length', 'stop', 'max_steps', 'cancelled', 'deadline']);
export type FinishReason = z.infer<typeof finishReasonSchema>;

/** The BullMQ return value: the result survives in Redis even when the gateway is gone. */
export const generationResultSchema = z.object({
  text: z.string(),
  tokenIds: z.array(z.number().int().nonnegative()),
  finishReason: finishReasonSchema,
  steps: z.number().int().nonnegative(),
  nfe: z.number().int().nonnegative(),
  promptTokens: z.number().int().nonnegative(),
  queueMs: z.number().nonnegative(),
  decodeMs: z.number().nonnegative(),
  workerId: z.string(),
  /** The confidence threshold the job decoded with (threshold strategy only); below the requested one under load. */
  effectiveThreshold: z.number().gt(0).lte(1).optional(),
});
export type GenerationResult = z.infer<typeof generationResultSchema>;
