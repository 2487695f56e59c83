import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';

import { SandboxUnavailableError } from './errors.ts';

/** Which isolation layers a sandbox process runs under on this machine. */
export interface SandboxLayers {
  /** The Node flag that turned the permission model on: `--permission` (Node >= 22) or `--experimental-permission` (Node 20). */
  readonly permissionFlag: '--permission' | '--experimental-permission';
  /** True when the process runs in its own, empty network namespace (`unshare --net`). */
  readonly networkNamespace: boolean;
  /** True when the process's virtual address space is capped (`prlimit --as`). */
  readonly addressSpaceLimit: boolean;
}

/** Resource limits for one sandbox process. */
export interface SandboxLimits {
  /** V8 old-generation heap cap (`--max-old-space-size`), in MiB. */
  readonly heapMb: number;
  /** Virtual address space cap (`prlimit --as`), in MiB; it bounds ArrayBuffers, which live outside the heap. */
  readonly addressSpaceMb: number;
}

/** How to start one sandbox process: the command, its arguments and the layers it runs under. */
export interface SandboxCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly layers: SandboxLayers;
}

const LOCKDOWN_SOURCE = readFileSync(new URL('./sandbox-lockdown.cjs', import.meta.url), 'utf8');
const EVALUATOR_SOURCE = readFileSync(new URL('./sandbox-evaluator.cjs', import.meta.url), 'utf8');

/** The `node -e` script every sandbox process runs: lockdown first, then the evaluator. */
export const SANDBOX_SCRIPT = `${LOCKDOWN_SOURCE}\n${EVALUATOR_SOURCE}`;

/** The lockdown part alone, for tests that check what code in the process's own realm can still do. */
export const SANDBOX_LOCKDOWN_SCRIPT = LOCKDOWN_SOURCE;

const PROBE_TIMEOUT_MS = 10_000;

/**
 * The whole environment a sandbox process gets: PATH only, so `unshare` and `prlimit` can be
 * found and nothing of the parent's environment (tokens, addresses) reaches untrusted code.
 */
export function sandboxEnvironment(): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin' };
}

interface ProbeOutcome {
  readonly ok: boolean;
  readonly stderr: string;
}

function probe(file: string, args: readonly string[]): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: PROBE_TIMEOUT_MS, env: sandboxEnvironment() }, (error, _stdout, stderr) => {
      resolve({ ok: error === null, stderr: String(stderr) });
    });
  });
}

/** What this machine offers the sandbox; found once per process by `detectSandboxSupport`. */
interface SandboxSupport {
  readonly permissionFlag: SandboxLayers['permissionFlag'];
  /** `unshare` arguments that give a fresh network namespace, or undefined when none work here. */
  readonly unshareArgs: readonly string[] | undefined;
  readonly prlimitAvailable: boolean;
}

let machineSupport: Promise<SandboxSupport> | undefined;

async function probeMachine(): Promise<SandboxSupport> {
  // Node 20 only knows --experimental-permission and exits 9 on --permission; Node 22.13+ and 23.5+
  // renamed it. Try the stable name first so a newer Node does not print a deprecation.
  let permissionFlag: SandboxLayers['permissionFlag'] | undefined;
  for (const flag of ['--permission', '--experimental-permission'] as const) {
    if ((await probe(process.execPath, [flag, '--no-warnings', '-e', '0'])).ok) {
      permissionFlag = flag;
      break;
    }
  }
  if (permissionFlag === undefined) {
    throw new SandboxUnavailableError(
      `${process.execPath} (Node ${process.version}) accepts neither --permission nor --experimental-permission; ` +
        'the eval sandbox needs Node >= 20 with the permission model.',
    );
  }

  // Root can create a network namespace directly; other users need a user namespace as well.
  let unshareArgs: readonly string[] | undefined;
  for (const candidate of [['--net'], ['--net', '--map-root-user']]) {
    if ((await probe('unshare', [...candidate, 'true'])).ok) {
      unshareArgs = candidate;
      break;
    }
  }

  const prlimitAvailable = (await probe('prlimit', ['--version'])).ok;
  return { permissionFlag, unshareArgs, prlimitAvailable };
}

/**
 * Finds out once per process which isolation layers this machine offers: the permission flag of
 * this Node, whether `unshare --net` and `prlimit` work. Later calls reuse the answer.
 */
function detectSandboxSupport(): Promise<SandboxSupport> {
  machineSupport ??= probeMachine().catch((error: unknown) => {
    machineSupport = undefined;
    throw error;
  });
  return machineSupport;
}

/**
 * Builds the command that starts one sandbox process running `script`:
 * `[unshare --net [--map-root-user]] [prlimit --as=N] node --experimental-permission
 * --disallow-code-generation-from-strings --max-old-space-size=N ... -e script`.
 * `unshare` and `prlimit` exec into their command, so the pid the parent holds is the node process.
 */
export async function buildSandboxCommand(script: string, limits: SandboxLimits): Promise<SandboxCommand> {
  const support = await detectSandboxSupport();
  const nodeArgs = [
    support.permissionFlag,
    '--no-warnings',
    // No eval or Function() in the process's own realm: code that escapes a vm context cannot
    // compile anything there, and so cannot reach import() or any global by name.
    '--disallow-code-generation-from-strings',
    `--max-old-space-size=${limits.heapMb}`,
    '-e',
    script,
  ];
  let argv: string[] = [process.execPath, ...nodeArgs];
  if (support.prlimitAvailable) {
    argv = ['prlimit', `--as=${limits.addressSpaceMb * 1024 * 1024}`, '--', ...argv];
  }
  if (support.unshareArgs !== undefined) {
    argv = ['unshare', ...support.unshareArgs, '--', ...argv];
  }
  const [file, ...args] = argv as [string, ...string[]];
  return {
    file,
    args,
    layers: {
      permissionFlag: support.permissionFlag,
      networkNamespace: support.unshareArgs !== undefined,
      addressSpaceLimit: support.prlimitAvailable,
    },
  };
}
