import { CliError } from './cli-error.ts';

/** The command line itself is wrong; the CLI prints the message and a pointer to --help, and exits 2. */
export class UsageError extends CliError {
  override readonly name: string = 'UsageError';
  constructor(message: string) {
    super('invalid_usage', message, 2);
  }
}
