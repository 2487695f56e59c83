import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { replaceGeneratedBlock } from '@dfleet/env-config';
import { CONFIG_DOCUMENTS, REPO_ROOT } from './config-documents.ts';

// `npm run docs:config`: rewrites each README's tables from the schemas and the metric catalogue, and says which changed.
for (const document of CONFIG_DOCUMENTS) {
  const file = join(REPO_ROOT, document.path);
  const before = readFileSync(file, 'utf8');
  const after = replaceGeneratedBlock(before, document.table(), document.markers);
  if (after !== before) writeFileSync(file, after);
  process.stdout.write(`${document.path}: ${after === before ? 'up to date' : 'table rewritten'}\n`);
}
