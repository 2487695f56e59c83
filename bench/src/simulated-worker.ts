import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { startManagedProcess, type ManagedProcess } from '@dfleet/local-processes';
import type { SimulatedDecodeSettings } from '@dfleet/test-support';

/** The worker's bench-only main: a real worker process with a SimulatedDenoiser for its model. */
const SIMULATED_MAIN = fileURLToPath(new URL('../../apps/worker/bench/simulated-gpu-main.ts', import.meta.url));
/**
 * Three folders below the repository root, like the sources it bundles, so their
 * `new URL('../../../protos', import.meta.url)` still finds the protos and the model.
 */
const BUNDLE_DIR = fileURLToPath(new URL('../../node_modules/.cache/dfleet-bench/', import.meta.url));

/** The simulated worker never opens an ONNX session: leave onnxruntime's native library unloaded (~13 MB a process). */
const noOnnxRuntime: Plugin = {
  name: 'no-onnxruntime',
  setup(plugin) {
    plugin.onResolve({ filter: /^onnxruntime-node$/ }, () => ({ path: 'onnxruntime-node', namespace: 'no-ort' }));
    plugin.onLoad({ filter: /.*/, namespace: 'no-ort' }, () => ({
      contents:
        "const refuse = () => { throw new Error('the simulated GPU worker bundle has no onnxruntime'); };\n" +
        'export default new Proxy({}, { get: refuse });\n',
      loader: 'js',
    }));
  },
};

/**
 * Bundles the simulated worker into one ES module run by plain `node`: no tsx in every process
 * (about 36 MB and a transpile each), so 64 of them fit a small host. Returns its path.
 */
export async function bundleSimulatedWorker(): Promise<string> {
  mkdirSync(BUNDLE_DIR, { recursive: true });
  const outfile = `${BUNDLE_DIR}simulated-gpu-worker.mjs`;
  await build({
    entryPoints: [SIMULATED_MAIN],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    plugins: [noOnnxRuntime],
    banner: {
      js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);",
    },
  });
  return outfile;
}

function simulatedWorkerArgs(settings: SimulatedDecodeSettings): string[] {
  return [
    ...['--pass-ms', String(settings.passMs)],
    ...['--tokens-per-step', String(settings.tokensPerStep)],
    ...['--answer-tokens', String(settings.answerTokens)],
  ];
}

/** Small young generation: a worker's heap is a few MB of jobs in flight. */
const WORKER_NODE_FLAGS = ['--max-semi-space-size=1'];

/**
 * Starts one simulated worker process from the bundle and resolves once it is ready. `nice`:
 * its scheduling niceness (`nice -n`), so that many workers sharing a host with the gateways
 * and Redis do not get many times their CPU (a fleet's workers run on GPU hosts of their own).
 */
export function startSimulatedWorker(
  bundle: string,
  settings: SimulatedDecodeSettings,
  env: NodeJS.ProcessEnv,
  name: string,
  nice = 0,
): Promise<ManagedProcess> {
  const node = [process.execPath, ...WORKER_NODE_FLAGS, bundle, ...simulatedWorkerArgs(settings)];
  return startManagedProcess({
    name,
    // nice execs node: the child's pid is the worker's.
    command: nice === 0 ? node[0]! : 'nice',
    args: nice === 0 ? node.slice(1) : ['-n', String(nice), ...node],
    env: { ...process.env, ...env, DFLEET_WORKER_ID: name, LOG_LEVEL: 'warn' },
    readyPattern: /^worker ready id=/,
  });
}
