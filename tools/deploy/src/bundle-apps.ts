import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * What `npm run bundle` writes: one ES module per app in `apps/<app>/dist/`. The directory is
 * as deep as `packages/<name>/src/`, on purpose: the packages find the repository's `protos/` and
 * `models/` as `../../../` from their own module URL, and inside a bundle that URL is the
 * bundle's. The worker's inference thread is a second entry, started by URL beside the bundle.
 */
export const APP_BUNDLES = {
  gateway: {
    outdir: 'apps/gateway/dist',
    entryPoints: { main: 'apps/gateway/src/main.ts' },
    /** Files the bundle reads at run time, beside it in the image. */
    assets: ['apps/gateway/playground'],
  },
  worker: {
    outdir: 'apps/worker/dist',
    entryPoints: { main: 'apps/worker/src/main.ts', 'inference-thread': 'packages/model/src/inference-thread.mjs' },
    assets: [],
  },
} as const;

/**
 * The workspace packages (TypeScript, no build of their own) go into the bundle; every npm
 * dependency stays an import, installed by `npm ci --omit=dev` beside it: native addons
 * (onnxruntime-node, msgpackr-extract) cannot be bundled, and the rest keep their own files.
 */
const keepNpmDependenciesExternal: Plugin = {
  name: 'keep-npm-dependencies-external',
  setup(context) {
    context.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@dfleet/') ? undefined : { path: args.path, external: true },
    );
  },
};

/** What went into one app's bundle, from esbuild's metafile. */
export interface AppBundle {
  /** Repository-relative paths of the source files bundled. */
  inputs: string[];
  /** The imports left to Node: npm packages and `node:` builtins, as written. */
  externalImports: string[];
}

/** Bundles one app (esbuild: TypeScript stripped, no type check; `npm run typecheck` does that). */
export async function bundleApp(app: keyof typeof APP_BUNDLES): Promise<AppBundle> {
  const { outdir, entryPoints } = APP_BUNDLES[app];
  await rm(`${ROOT}${outdir}`, { recursive: true, force: true });
  const { metafile } = await build({
    absWorkingDir: ROOT,
    entryPoints,
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: 'linked',
    plugins: [keepNpmDependenciesExternal],
    logLevel: 'warning',
    metafile: true,
  });
  const externalImports = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) if (imported.external) externalImports.add(imported.path);
  }
  return { inputs: Object.keys(metafile.inputs), externalImports: [...externalImports].sort() };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const apps = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(APP_BUNDLES);
  for (const app of apps) {
    if (!(app in APP_BUNDLES)) {
      process.stderr.write(`bundle: unknown app '${app}'; the apps are ${Object.keys(APP_BUNDLES).join(', ')}\n`);
      process.exit(2);
    }
    await bundleApp(app as keyof typeof APP_BUNDLES);
    process.stdout.write(`bundled ${app} into ${APP_BUNDLES[app as keyof typeof APP_BUNDLES].outdir}/\n`);
  }
}
