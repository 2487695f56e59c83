import { documented } from '@dfleet/env-config';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The model shipped in this checkout, served when DFLEET_MODEL_DIR is unset. */
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../../models/jsfunc-mdm', import.meta.url));

/** DFLEET_MODEL_DIR, for the env schema of each app that serves or checks the model. */
export const modelDirVariable = documented(z.string().min(1).default(DEFAULT_MODEL_DIR), {
  default: '`<repo>/models/jsfunc-mdm`',
  meaning: 'model directory (`dfleet-model.json`, ONNX file, tokenizer)',
});
