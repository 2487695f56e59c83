import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_MANIFEST_FILE } from '../model-manifest.ts';
import type { ReportProblem } from './report.ts';

/** Reports a file the manifest names (its `field`) that is not in the directory. */
export async function checkFileExists(
  directory: string,
  file: string,
  field: string,
  report: ReportProblem,
): Promise<boolean> {
  try {
    await access(join(directory, file));
    return true;
  } catch {
    report('error', 'file_missing', `${file} (${MODEL_MANIFEST_FILE} ${field}) does not exist in ${directory}`, file);
    return false;
  }
}
