import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_DIR } from '../src/default-model-dir.ts';

/** The default model the fleet serves; every integration test here runs on it. */
export const MODEL_DIR = DEFAULT_MODEL_DIR;

/** Fixture ONNX graphs that each break one contract rule (see fixtures/make-broken-models.py). */
export const FIXTURES_DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));

const MODEL_FILES = ['dfleet-model.json', 'model.onnx', 'tokenizer.json', 'tokenizer_config.json'];

/** Copies the files of the default model that serving reads (its prefix-cache form too) into a fresh temp directory. */
export async function copyModelDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'dfleet-model-test-'));
  const manifest = JSON.parse(await readFile(join(MODEL_DIR, 'dfleet-model.json'), 'utf8')) as {
    prefixCache?: { onnx: string };
  };
  for (const file of [...MODEL_FILES, ...(manifest.prefixCache ? [manifest.prefixCache.onnx] : [])]) {
    await cp(join(MODEL_DIR, file), join(directory, file)).catch((error: NodeJS.ErrnoException) => {
      // tokenizer_config.json is optional in the contract.
      if (!(error.code === 'ENOENT' && file === 'tokenizer_config.json')) throw error;
    });
  }
  return directory;
}

export async function removeDirectory(directory: string): Promise<void> {
  await rm(directory, { recursive: true, force: true });
}

/** A manifest as a test breaks it: any field may be rewritten or deleted, so only `files` is known to be there. */
interface EditableManifest {
  [field: string]: unknown;
  files: Record<string, unknown>;
}

/** Rewrites `dfleet-model.json` in `directory` through `edit`. */
export async function editManifest(directory: string, edit: (manifest: EditableManifest) => void): Promise<void> {
  const path = join(directory, 'dfleet-model.json');
  const manifest = JSON.parse(await readFile(path, 'utf8')) as EditableManifest;
  edit(manifest);
  await writeFile(path, JSON.stringify(manifest, null, 2));
}
