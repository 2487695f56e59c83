import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** The version in apps/cli/package.json, which `dfleet --version` prints. */
export function cliVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return z.object({ version: z.string() }).parse(manifest).version;
}
