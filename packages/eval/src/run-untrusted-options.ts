/** Options of `runUntrusted`. Every field is optional; defaults are in `DEFAULT_RUN_UNTRUSTED_OPTIONS`. */
export interface RunUntrustedOptions {
  /**
   * Wall time one program may spend loading plus running all of its tests, in ms. Enforced in
   * the sandbox by the vm timeout and, as a backstop, by the parent killing the process.
   * @defaultValue 1000
   */
  readonly timeoutMs?: number;
  /**
   * Extra time the parent grants beyond `timeoutMs` before it kills a sandbox process whose
   * program has not finished (the vm timeout normally fires first).
   * @defaultValue 1000
   */
  readonly killGraceMs?: number;
  /**
   * V8 old-generation heap cap of each sandbox process (`--max-old-space-size`), in MiB.
   * @defaultValue 64
   */
  readonly heapMb?: number;
  /**
   * Virtual address space cap of each sandbox process (`prlimit --as`), in MiB, when `prlimit`
   * exists. Node 20 reserves about 700 MiB of address space just to start, so this is not the
   * memory a program may use: it bounds ArrayBuffers, which live outside the V8 heap.
   * @defaultValue 1024
   */
  readonly addressSpaceMb?: number;
  /**
   * How many sandbox processes run at once.
   * @defaultValue 2
   */
  readonly concurrency?: number;
  /**
   * How many programs one sandbox process evaluates (each in a fresh vm context).
   * @defaultValue 50
   */
  readonly chunkSize?: number;
  /**
   * Time a sandbox process may take to start and report its first program, in ms.
   * @defaultValue 10000
   */
  readonly startupTimeoutMs?: number;
  /**
   * Longest JSON text of one test's return value; longer results count as wrong answers.
   * @defaultValue 65536
   */
  readonly maxResultChars?: number;
  /**
   * Refuse to run (SandboxUnavailableError) when this machine cannot give each sandbox process
   * its own network namespace. When false, a machine without `unshare` relies on the in-process
   * layers alone (no module system, no code generation, no stdio sockets; see the README).
   * @defaultValue false
   */
  readonly requireNetworkNamespace?: boolean;
  /** Aborting kills every running sandbox process; `runUntrusted` then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export const DEFAULT_RUN_UNTRUSTED_OPTIONS = {
  timeoutMs: 1000,
  killGraceMs: 1000,
  heapMb: 64,
  addressSpaceMb: 1024,
  concurrency: 2,
  chunkSize: 50,
  startupTimeoutMs: 10_000,
  maxResultChars: 65_536,
  requireNetworkNamespace: false,
} as const;
