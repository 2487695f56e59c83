import { EnvConfigError } from '@dfleet/env-config';
import { LocalProcessError } from '@dfleet/local-processes';
import { CliError } from './cli-error.ts';
import { cliVersion } from './cli-version.ts';
import { runBatch } from './commands/batch.ts';
import { runGenerate } from './commands/generate.ts';
import { runKeys } from './commands/keys.ts';
import { runModel } from './commands/model-check.ts';
import { runStatus } from './commands/status.ts';
import { runUp } from './commands/up.ts';
import { runWorkers } from './commands/worker.ts';
import { UsageError } from './usage-error.ts';

const USAGE = `usage: dfleet <command> [options]

  up                      start a local fleet (Redis, gateway, workers) and stay in the foreground
  generate "PROMPT"       send a completion to a running gateway and print it with steps, NFE, time
  batch IN.jsonl -o OUT   every line of a JSONL file through the gateway, with progress; resumable
  status [--watch [S]]    workers, queue depths and last minute's p50/p99 on one screen (redrawn every S s)
  model check DIR         validate a model directory against the dfleet model contract
  model reduce IN OUT     copy a model directory with the logits reduced inside the graph (top token, confidence)
  worker --gpus all|0,2   one worker process per GPU (one CPU worker when there is none)
  keys create|list|revoke manage the hashed API keys file (DFLEET_API_KEYS_FILE)

'dfleet COMMAND --help' says more about each; 'dfleet --version' prints the version.
`;

/** Exit status for a bad environment variable, as the gateway uses it (sysexits EX_CONFIG). */
const EXIT_BAD_ENVIRONMENT = 78;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up':
      return runUp(rest, process.env);
    case 'generate':
      return runGenerate(rest, process.env);
    case 'batch':
      return runBatch(rest, process.env);
    case 'status':
      return runStatus(rest, process.env);
    case 'model':
      return runModel(rest);
    case 'worker':
      return runWorkers(rest, process.env);
    case 'keys':
      return runKeys(rest, process.env);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    case '--version':
    case '-v':
      process.stdout.write(`dfleet ${cliVersion()}\n`);
      return;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

const SUBCOMMANDS: Record<string, readonly string[]> = {
  model: ['check', 'reduce'],
  keys: ['create', 'list', 'revoke'],
};

/** ["keys", "create"] for `dfleet keys create --bad`: the command whose --help a usage error points to. */
function commandWords(argv: string[]): string[] {
  const [command, subcommand] = argv;
  if (command === undefined) return [];
  const subcommands = SUBCOMMANDS[command];
  if (subcommands) {
    return subcommand !== undefined && subcommands.includes(subcommand) ? [command, subcommand] : [command];
  }
  return ['up', 'generate', 'batch', 'status', 'worker'].includes(command) ? [command] : [];
}

const argv = process.argv.slice(2);
main(argv).catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`dfleet: ${error.message}\nsee '${['dfleet', ...commandWords(argv), '--help'].join(' ')}'\n`);
    process.exit(error.exitCode);
  }
  // A fleet process that did not come up is the user's to fix, like any CliError: no stack.
  if (error instanceof CliError || error instanceof LocalProcessError) {
    process.stderr.write(`dfleet: ${error.message}\n`);
    process.exit(error instanceof CliError ? error.exitCode : 1);
  }
  if (error instanceof EnvConfigError) {
    process.stderr.write(`dfleet: ${error.message}\n`);
    process.exit(EXIT_BAD_ENVIRONMENT);
  }
  process.stderr.write(`dfleet: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
