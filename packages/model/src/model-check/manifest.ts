import { join } from 'node:path';
import { ModelManifestError } from '../errors.ts';
import {
  loadModelManifest,
  MODEL_MANIFEST_FILE,
  SPECIAL_TOKEN_ROLES,
  type ModelManifest,
  type SpecialTokenRole,
} from '../model-manifest.ts';
import { isRecord, readJsonObject } from './json-object.ts';
import type { ReportProblem } from './report.ts';

/** What the other checks can use of the manifest: every field, or those that are usable in an invalid one. */
export interface CheckedManifest {
  /** The manifest, when it is valid. */
  manifest?: ModelManifest;
  vocabSize?: number;
  maxSequenceLength?: number;
  specialTokens?: Record<SpecialTokenRole, number>;
  onnxFile?: string;
  tokenizerFile?: string;
}

type ManifestFallback = Omit<CheckedManifest, 'manifest'>;

/** Usable fields of a manifest that fails validation, so the other checks still run. */
async function readManifestFallback(directory: string): Promise<ManifestFallback> {
  const raw = (await readJsonObject(join(directory, MODEL_MANIFEST_FILE))) ?? {};
  const positive = (value: unknown): number | undefined =>
    Number.isInteger(value) && (value as number) > 0 ? (value as number) : undefined;
  const files = isRecord(raw['files']) ? raw['files'] : {};
  const fileName = (value: unknown, fallback: string): string =>
    typeof value === 'string' && value.length > 0 && !value.split(/[\\/]/).includes('..') ? value : fallback;
  const fallback: ManifestFallback = {
    onnxFile: fileName(files['onnx'], 'model.onnx'),
    tokenizerFile: fileName(files['tokenizer'], 'tokenizer.json'),
  };
  const vocabSize = positive(raw['vocabSize']);
  if (vocabSize !== undefined) fallback.vocabSize = vocabSize;
  const maxSequenceLength = positive(raw['maxSequenceLength']);
  if (maxSequenceLength !== undefined) fallback.maxSequenceLength = maxSequenceLength;
  const special = isRecord(raw['specialTokens']) ? raw['specialTokens'] : undefined;
  const isTokenId = (value: unknown): boolean => Number.isInteger(value) && (value as number) >= 0;
  if (special !== undefined && SPECIAL_TOKEN_ROLES.every((role) => isTokenId(special[role]))) {
    const ids = SPECIAL_TOKEN_ROLES.map((role) => [role, special[role] as number]);
    fallback.specialTokens = Object.fromEntries(ids) as Record<SpecialTokenRole, number>;
  }
  return fallback;
}

/**
 * Loads `dfleet-model.json` and reports each invalid field; when it is invalid, the checks after
 * it go on with whatever fields are usable.
 */
export async function checkManifest(directory: string, report: ReportProblem): Promise<CheckedManifest> {
  const fallback = await readManifestFallback(directory);
  let manifest: ModelManifest | undefined;
  try {
    manifest = await loadModelManifest(directory);
  } catch (error) {
    if (!(error instanceof ModelManifestError)) throw error;
    if (error.code === 'manifest_invalid') {
      for (const issue of error.issues) {
        const path = `${MODEL_MANIFEST_FILE}#${issue.field}`;
        report('error', 'manifest_invalid', `${MODEL_MANIFEST_FILE}: ${issue.field} ${issue.message}`, path);
      }
    } else {
      report('error', error.code, error.message, MODEL_MANIFEST_FILE);
    }
  }
  if (manifest === undefined) return fallback;
  return {
    manifest,
    vocabSize: manifest.vocabSize,
    maxSequenceLength: manifest.maxSequenceLength,
    specialTokens: manifest.specialTokens,
    onnxFile: manifest.files.onnx,
    tokenizerFile: manifest.files.tokenizer,
  };
}
