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
  /**
   * OpenAI's `max_tokens`: a cap on the answer (the decoder's `maxAnswerTokens`). `maxNewTokens`
   * is the canvas the model decodes (LLaDA's gen_length), not a cap. Absent: no cap.
   */
  maxAnswerTokens: z.number().int().positive().optional(),
  /** Record log-probabilities with this many top alternatives per token (0-5); absent: none. */
  logprobs: z.number().int().min(0).max(5).optional(),
  /** Fill in the middle: text pinned after the answer (models whose manifest says `infill`). */
  suffix: z.string().min(1).optional(),
  /** Report every step to the gateway (a StepReport), for streaming requests. */
  streamSteps: z.boolean().default(false),
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

export const tokenLogprobSchema = z.object({
  logprob: z.number(),
  top: z.array(z.object({ id: z.number().int().nonnegative(), logprob: z.number() })),
});
export type TokenLogprob = z.infer<typeof tokenLogprobSchema>;

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
  /** The 1-based step that committed each token, aligned with `tokenIds`. */
  tokenSteps: z.array(z.number().int().positive()).default([]),
  /** Aligned with `tokenIds`; only when the job asked for logprobs. */
  tokenLogprobs: z.array(tokenLogprobSchema).optional(),
});
export type GenerationResult = z.infer<typeof generationResultSchema>;
