/** A failure the user can fix; the CLI prints the message alone (no stack) and exits with `exitCode`. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
