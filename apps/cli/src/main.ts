import { LocalProcessError } from '@dfleet/local-processes';
import { CliError } from './cli-error.ts';
import { runGenerate } from './commands/generate.ts';
import { runKeys } from './commands/keys.ts';
import { runModelCheck } from './commands/model-check.ts';
import { runUp } from './commands/up.ts';
import { runWorkers } from './commands/worker.ts';

const USAGE = `usage: dfleet <command>

  up                      start a local fleet (Redis, gateway, workers) and stay in the foreground
  generate "PROMPT"       send a completion to a running gateway and print it with steps, NFE, time
  model check DIR         validate a model directory against the dfleet model contract
  worker --gpus all|0,2   one worker process per GPU (one CPU worker when there is none)
  keys create|list|revoke manage the hashed API keys file (DFLEET_API_KEYS_FILE)
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up':
      return runUp(rest, process.env);
    case 'generate':
      return runGenerate(rest, process.env);
    case 'model':
      if (rest[0] === 'check') return runModelCheck(rest.slice(1));
      throw new CliError('unknown_command', `unknown model subcommand "${rest[0] ?? ''}"\n\n${USAGE}`, 2);
    case 'worker':
      return runWorkers(rest, process.env);
    case 'keys':
      return runKeys(rest, process.env);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return;
    default:
      throw new CliError('unknown_command', `unknown command "${command}"\n\n${USAGE}`, 2);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // A fleet process that did not come up is the user's to fix, like any CliError: no stack.
  if (error instanceof CliError || error instanceof LocalProcessError) {
    process.stderr.write(`dfleet: ${error.message}\n`);
    process.exit(error instanceof CliError ? error.exitCode : 1);
  }
  process.stderr.write(`dfleet: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
