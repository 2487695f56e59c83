import { z } from 'zod';

import type { JsonValue } from './untrusted-program.ts';

/** A JavaScript identifier; entry names are spliced into the call script, so nothing else is allowed. */
export const ENTRY_NAME_PATTERN = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

const jsonValueSchema = z.json() as z.ZodType<JsonValue>;

export const programTestSchema = z.object({
  args: z.array(jsonValueSchema),
  expected: jsonValueSchema,
});

/** One line of `models/<name>/eval/heldout.jsonl` (see notes/common.md, "Eval tasks"). */
export const evalTaskSchema = z.object({
  id: z.string().min(1),
  family: z.string().min(1),
  /** The text the model sees: a one-line comment spec and a function header ending in "{\n". */
  prompt: z.string().min(1),
  /** Appended after the completion, usually "\n}". */
  suffix: z.string(),
  entry: z.string().regex(ENTRY_NAME_PATTERN, 'must be a JavaScript identifier'),
  tests: z.array(programTestSchema).min(1),
  /** Reference body; prompt + solution + suffix passes every test. */
  solution: z.string(),
});

export type EvalTask = z.infer<typeof evalTaskSchema>;
