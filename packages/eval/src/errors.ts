/**
 * Every error this package throws on purpose. Each has a stable `code` callers can switch on and
 * a message that says what is wrong and what to do about it. A program that fails its tests is
 * not an error: it is a result (see `UntrustedRunResult`).
 */
export abstract class EvalPackageError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export type EvalTaskFileErrorCode = 'eval_task_file_unreadable' | 'eval_task_invalid' | 'eval_task_duplicate_id';

/** A held-out task file could not be read, or one of its lines is not a valid task. */
export class EvalTaskFileError extends EvalPackageError {
  readonly code: EvalTaskFileErrorCode;
  readonly file: string;
  /** 1-based line number of the offending line; undefined when the file itself is the problem. */
  readonly line: number | undefined;
  /** Dotted path of the offending field (e.g. `tests.2.args`); undefined when the line is not JSON. */
  readonly field: string | undefined;

  constructor(
    code: EvalTaskFileErrorCode,
    file: string,
    message: string,
    location: { line?: number; field?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.file = file;
    this.line = location.line;
    this.field = location.field;
  }
}

/** `runUntrusted` was given a program list or options it cannot run (bad entry name, no tests...). */
export class UntrustedProgramInputError extends EvalPackageError {
  readonly code = 'untrusted_program_invalid';
  /** Index into the programs array, or undefined when the options are the problem. */
  readonly index: number | undefined;
  readonly field: string;

  constructor(message: string, field: string, index?: number) {
    super(message);
    this.field = field;
    this.index = index;
  }
}

/**
 * This machine cannot run the sandbox as asked: Node lacks the permission model, a required
 * isolation layer is missing, or sandbox processes die before evaluating anything.
 */
export class SandboxUnavailableError extends EvalPackageError {
  readonly code = 'sandbox_unavailable';
}
