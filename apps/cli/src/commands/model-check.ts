import { resolve } from 'node:path';
import { checkModelDirectory, formatModelCheckReport } from '@dfleet/model';
import { asksForHelp, parseCommandLine } from '../command-line.ts';
import { UsageError } from '../usage-error.ts';
import { runModelReduce } from './model-reduce.ts';

const MODEL_USAGE = `usage: dfleet model <check|reduce> ...

  check DIR             validate a model directory against the dfleet model contract: prints each
                        problem found and exits 1 if there is one, 0 when the directory can be served
  reduce IN_DIR OUT_DIR copy a model directory with its logits reduced inside the graph
                        (top token, confidence, entropy): see 'dfleet model reduce --help'
`;

/** `dfleet model <subcommand>`: `check` or `reduce`. */
export async function runModel(args: string[]): Promise<void> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'check') return runModelCheck(rest);
  if (subcommand === 'reduce') return runModelReduce(rest);
  if (subcommand === undefined) throw new UsageError('model needs a subcommand: check or reduce');
  if (asksForHelp([subcommand])) {
    process.stdout.write(MODEL_USAGE);
    return;
  }
  throw new UsageError(`unknown model subcommand '${subcommand}'`);
}

/** `dfleet model check DIR`: exit 0 when the directory meets the model contract, 1 otherwise. */
async function runModelCheck(args: string[]): Promise<void> {
  const parsed = parseCommandLine({ usage: MODEL_USAGE, options: {}, allowPositionals: true }, args);
  if (!parsed) return;
  const [dir, ...extra] = parsed.positionals;
  if (dir === undefined) throw new UsageError('model check needs the model directory: dfleet model check DIR');
  if (extra.length > 0) throw new UsageError(`model check takes one directory; got also '${extra.join(' ')}'`);
  const report = await checkModelDirectory(resolve(dir));
  process.stdout.write(`${formatModelCheckReport(report)}\n`);
  if (!report.ok) process.exitCode = 1;
}
