import { z } from 'zod';

/** What the configuration table says about one variable as one app reads it. */
export interface EnvVarDoc {
  /**
   * The Meaning column (markdown). Absent when the app only reads a variable that another app
   * documents (the CLI reading the gateway's DFLEET_PORT to find it).
   */
  meaning?: string;
  /**
   * The Default column (markdown), for a default the schema cannot show as a literal: a path
   * under the checkout, a rule, or what 0 means. Without it the table shows the schema's default
   * value, or "unset" for an optional variable.
   */
  default?: string;
}

/** The documentation of every variable in an app's env schema; the README table is rendered from it. */
export const envDocs = z.registry<EnvVarDoc>();

/** Attaches `doc` to the schema of one variable; returns that same schema. */
export function documented<T extends z.ZodType>(schema: T, doc: EnvVarDoc): T {
  // Through the base type: the registry's meta type does not resolve for a generic schema.
  envDocs.add(schema as z.ZodType, doc);
  return schema;
}
