import { resolve } from 'node:path';
import { checkModelDirectory, formatModelCheckReport } from '@dfleet/model';
import { CliError } from '../cli-error.ts';

/** `dfleet model check DIR`: exit 0 when the directory meets the model contract, 1 otherwise. */
export async function runModelCheck(args: string[]): Promise<void> {
  const dir = args[0];
  if (!dir) throw new CliError('missing_dir', 'usage: dfleet model check DIR');
  const report = await checkModelDirectory(resolve(dir));
  process.stdout.write(`${formatModelCheckReport(report)}\n`);
  if (!report.ok) process.exitCode = 1;
}
