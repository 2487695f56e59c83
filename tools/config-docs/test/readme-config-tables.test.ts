import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readGeneratedBlock } from '@dfleet/env-config';
import { CONFIG_DOCUMENTS, REPO_ROOT } from '../src/config-documents.ts';

describe('README configuration and metric tables', () => {
  it.each(CONFIG_DOCUMENTS)('$path shows the table its schemas or catalogue generate', ({ path, table, markers }) => {
    // On a failure: run `npm run docs:config` and commit the README.
    expect(readGeneratedBlock(readFileSync(join(REPO_ROOT, path), 'utf8'), markers)).toBe(table());
  });
});
