import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage-error.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** What one subcommand accepts. */
export interface CommandLineSpec<O extends Options> {
  /** Printed for `--help` or `-h`. */
  usage: string;
  options: O;
  /** @defaultValue false */
  allowPositionals?: boolean;
}

type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>
>;

/**
 * Parses a subcommand's arguments with node:util's parseArgs. `--help` or `-h` anywhere before
 * `--` prints the usage and returns undefined, so the caller starts nothing; a malformed command
 * line is a UsageError with parseArgs's first sentence.
 */
export function parseCommandLine<O extends Options>(spec: CommandLineSpec<O>, args: string[]): Parsed<O> | undefined {
  if (asksForHelp(args)) {
    process.stdout.write(spec.usage);
    return undefined;
  }
  try {
    return parseArgs({ args, options: spec.options, allowPositionals: spec.allowPositionals ?? false, strict: true });
  } catch (error) {
    if (isParseArgsError(error)) throw new UsageError(firstSentence(error.message));
    throw error;
  }
}

/** True when `--help` or `-h` comes before any `--` (after it, they are positionals). */
export function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

function isParseArgsError(error: unknown): error is Error & { code: string } {
  return error instanceof TypeError && String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_');
}

/** "Unknown option '--x'. To specify a positional ..." → "unknown option '--x'". */
function firstSentence(message: string): string {
  const sentence = message.split(/\.(\s|$)|\n/)[0] ?? message;
  return sentence.charAt(0).toLowerCase() + sentence.slice(1);
}
