import type { z } from 'zod';

/** An environment that does not parse; the message names every bad variable and what it allows. */
export class EnvConfigError extends Error {
  readonly code = 'invalid_config';
  override readonly name = 'EnvConfigError';
  constructor(
    /** One "VARIABLE: what is wrong" line per problem. */
    readonly problems: readonly string[],
    what: string,
  ) {
    super(`invalid ${what} environment: ${problems.join('; ')}`);
  }
}

/**
 * Cross-field rules (`superRefine`) take this so they run only once every variable parsed: they
 * then read typed values, and a bad variable is reported once, not again by a rule that reads it.
 */
export const AFTER_EACH_VARIABLE: z.core.$ZodSuperRefineParams = { when: (payload) => payload.issues.length === 0 };

/**
 * Parses `env` against `schema`, once, at startup. An empty value counts as unset, so
 * `FOO= node ...` falls back to the default; variables the schema does not name are ignored.
 * `what` names the environment in the error ("gateway", "worker").
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: Readonly<Record<string, string | undefined>>,
  what: string,
): z.output<S> {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = schema.safeParse(present);
  if (parsed.success) return parsed.data;
  throw new EnvConfigError(parsed.error.issues.map(describeIssue), what);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  // A cross-field rule's message names its variables itself.
  return issue.path.length === 0 ? issue.message : `${issue.path.join('.')}: ${issue.message}`;
}
