import { z } from 'zod';
import { envDocs, type EnvVarDoc } from './env-docs.ts';

/** One app's environment as the table sees it: its name in the Used by column and its schema. */
export interface AppEnv {
  name: string;
  schema: z.ZodObject;
}

interface Declaration {
  app: string;
  meaning: string | undefined;
  default: string | undefined;
}

/** The table of every app's variables: Variable, Used by, Default, Meaning; one row per variable. */
export function renderFleetConfigTable(apps: readonly AppEnv[]): string {
  const rows = [...declarationsByVariable(apps)].map(([variable, declared]) => {
    const usedBy = declared.length === apps.length ? 'all' : declared.map((entry) => entry.app).join(', ');
    return [`\`${variable}\``, usedBy, mergedCell(declared, 'default'), mergedCell(declared, 'meaning')];
  });
  return markdownTable(['Variable', 'Used by', 'Default', 'Meaning'], rows);
}

/** The table of one app's variables: Variable, Default, Meaning. */
export function renderAppConfigTable(app: AppEnv): string {
  const rows = [...declarationsByVariable([app])].map(([variable, [entry]]) => [
    `\`${variable}\``,
    entry?.default ?? '',
    entry?.meaning ?? '',
  ]);
  return markdownTable(['Variable', 'Default', 'Meaning'], rows);
}

/** Variables in order of first appearance (apps in order, each schema in its own order). */
function declarationsByVariable(apps: readonly AppEnv[]): Map<string, Declaration[]> {
  const byVariable = new Map<string, Declaration[]>();
  for (const app of apps) {
    for (const [variable, schema] of Object.entries(app.schema.shape)) {
      const doc = envDocs.get(schema);
      if (doc === undefined) {
        throw new Error(`${app.name}'s ${variable} has no documentation: wrap its schema in documented()`);
      }
      const declaration = { app: app.name, meaning: doc.meaning, default: defaultText(variable, schema, doc) };
      byVariable.set(variable, [...(byVariable.get(variable) ?? []), declaration]);
    }
  }
  return byVariable;
}

function defaultText(variable: string, schema: z.core.$ZodType, doc: EnvVarDoc): string | undefined {
  const value = schema instanceof z.ZodDefault ? (schema.def.defaultValue as unknown) : undefined;
  if (doc.default !== undefined) {
    // A hand-written default that leaves out the number it describes would drift from the schema.
    if (typeof value === 'number' && !doc.default.includes(`\`${value}\``)) {
      const problem = `the documented default "${doc.default}" does not show the schema's default \`${value}\``;
      throw new Error(`${variable}: ${problem}`);
    }
    return doc.default;
  }
  // An app that only reads a variable another app documents adds nothing to its Default cell.
  if (doc.meaning === undefined) return undefined;
  return value === undefined ? 'unset' : `\`${String(value)}\``;
}

/** One text when the apps agree; else "gateway: A; worker: B". */
function mergedCell(declared: readonly Declaration[], column: 'default' | 'meaning'): string {
  const appsByText = new Map<string, string[]>();
  for (const entry of declared) {
    const text = entry[column];
    if (text !== undefined) appsByText.set(text, [...(appsByText.get(text) ?? []), entry.app]);
  }
  if (appsByText.size <= 1) return [...appsByText.keys()][0] ?? '';
  return [...appsByText].map(([text, apps]) => `${apps.join(', ')}: ${text}`).join('; ');
}

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
