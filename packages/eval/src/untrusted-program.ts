/** A value JSON can represent; what test arguments and expected results are made of. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One call of the program's entry function and the result it must return. */
export interface ProgramTest {
  readonly args: readonly JsonValue[];
  readonly expected: JsonValue;
}

/** A complete program to run as untrusted code, with the tests that decide whether it passes. */
export interface UntrustedProgram {
  /** Caller's id, echoed in the result. */
  readonly id: string;
  /** Script source (for an eval task: prompt + completion + suffix). */
  readonly program: string;
  /** Name of the function the tests call; a top-level binding of `program`. */
  readonly entry: string;
  readonly tests: readonly ProgramTest[];
}

/**
 * Why a program did not pass:
 * - `syntax`: the program does not compile;
 * - `timeout`: loading it plus running its tests took longer than the per-program timeout;
 * - `memory`: it exhausted the heap cap, or an allocation failed at the engine's limit;
 * - `runtime`: it threw (or the entry is missing, or the sandbox process died under it);
 * - `wrong_answer`: a test returned a different value, or one JSON cannot represent.
 */
export type UntrustedFailureKind = 'timeout' | 'memory' | 'syntax' | 'runtime' | 'wrong_answer';

/** The verdict on one program. */
export interface UntrustedRunResult {
  readonly id: string;
  readonly passed: boolean;
  /** 0-based index of the test that failed, when one test can be blamed. */
  readonly failedTest?: number;
  /** Set exactly when `passed` is false. */
  readonly error?: UntrustedFailureKind;
  /** One line for a person: what happened (clipped). */
  readonly detail: string;
}
