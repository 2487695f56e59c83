import { join } from 'node:path';
import { Tokenizer } from '../tokenizer.ts';
import { messageOf } from './error-message.ts';
import { checkFileExists } from './file-exists.ts';
import type { ReportProblem } from './report.ts';

/** Loads the tokenizer the manifest names; undefined (and reported) when it is missing or invalid. */
export async function checkTokenizerLoads(
  directory: string,
  tokenizerFile: string,
  report: ReportProblem,
): Promise<Tokenizer | undefined> {
  if (!(await checkFileExists(directory, tokenizerFile, 'files.tokenizer', report))) return undefined;
  try {
    return await Tokenizer.fromFile(join(directory, tokenizerFile));
  } catch (error) {
    report('error', 'tokenizer_invalid', messageOf(error), tokenizerFile);
    return undefined;
  }
}
