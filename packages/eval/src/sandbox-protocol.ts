import { z } from 'zod';

/**
 * The wire between the parent and a sandbox process (`sandbox-evaluator.cjs`). The parent sends
 * one `SandboxBatch` on stdin; the process answers with one JSON object per line on stdout.
 * Everything read back is validated here: code that escaped its vm context could write to
 * stdout too, so the parent treats these lines as untrusted input like any other.
 */
export interface SandboxBatch {
  readonly timeoutMs: number;
  readonly maxResultChars: number;
  readonly programs: readonly SandboxBatchProgram[];
}

export interface SandboxBatchProgram {
  readonly program: string;
  /** A JavaScript identifier (checked by the parent before it is spliced into the call script). */
  readonly entry: string;
  /** JSON text of the array of argument lists, one per test. Expected values never leave the parent. */
  readonly argsJson: string;
}

/**
 * One test's tagged output: `v:<json>` returned that JSON value, `u:<why>` returned something JSON
 * cannot represent, `e:<error>` threw, `m:<error>` hit an allocation limit.
 */
const taggedOutputSchema = z.string().regex(/^[vuem]:/);

const sandboxOutcomeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('syntax'), detail: z.string() }),
  z.object({ kind: z.literal('timeout'), detail: z.string() }),
  z.object({ kind: z.literal('runtime'), detail: z.string() }),
  z.object({ kind: z.literal('memory'), detail: z.string() }),
  z.object({ kind: z.literal('outputs'), outputs: z.array(taggedOutputSchema) }),
]);

export type SandboxOutcome = z.infer<typeof sandboxOutcomeSchema>;

export const sandboxEventSchema = z.discriminatedUnion('event', [
  z.object({ event: z.literal('start'), index: z.number().int().nonnegative() }),
  z.object({ event: z.literal('done'), index: z.number().int().nonnegative(), outcome: sandboxOutcomeSchema }),
  z.object({ event: z.literal('finished') }),
  z.object({ event: z.literal('lockdown_failed'), detail: z.string() }),
]);

export type SandboxEvent = z.infer<typeof sandboxEventSchema>;
