import { cp, mkdir, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { APP_BUNDLES } from './bundle-apps.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The workspace folders package.json names (`packages/*`, `apps/*`, `tools/*`, `bench`). */
const WORKSPACE_PARENTS = ['packages', 'apps', 'tools'];
const WORKSPACE_DIRS = ['bench'];

/**
 * The files an app's image holds besides its npm dependencies, as paths under the repository:
 * the install manifests (the lockfile and every workspace's package.json, without which
 * `npm ci` refuses the lockfile), the app's bundle, and what the bundle reads at run time (the
 * protos, the default model, the app's own assets such as the gateway's playground).
 */
export async function stagedPaths(app: keyof typeof APP_BUNDLES): Promise<string[]> {
  const manifests: string[] = [];
  for (const parent of WORKSPACE_PARENTS) {
    for (const entry of await readdir(join(ROOT, parent), { withFileTypes: true })) {
      if (entry.isDirectory()) manifests.push(`${parent}/${entry.name}/package.json`);
    }
  }
  for (const dir of WORKSPACE_DIRS) manifests.push(`${dir}/package.json`);
  return [
    'package.json',
    'package-lock.json',
    '.npmrc',
    ...manifests.sort(),
    APP_BUNDLES[app].outdir,
    ...APP_BUNDLES[app].assets,
    'protos',
    'models/jsfunc-mdm',
  ];
}

/**
 * Copies what `stagedPaths` names into `destination`, keeping the layout, so that
 * `npm ci --omit=dev --workspace @dfleet/<app>` there gives a runnable app. The image's build
 * stage and the test that runs the staged app both use it. Run `npm run bundle` first.
 */
export async function stageApp(app: keyof typeof APP_BUNDLES, destination: string): Promise<void> {
  for (const path of await stagedPaths(app)) {
    const source = join(ROOT, path);
    const exists = await stat(source).then(
      () => true,
      () => false,
    );
    if (!exists) {
      const hint = path === APP_BUNDLES[app].outdir ? ' (run `npm run bundle` first)' : '';
      throw new Error(`stage ${app}: ${path} is missing${hint}`);
    }
    await mkdir(dirname(join(destination, path)), { recursive: true });
    await cp(source, join(destination, path), { recursive: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [app, destination] = process.argv.slice(2);
  if (app === undefined || !(app in APP_BUNDLES) || destination === undefined) {
    process.stderr.write(`usage: stage-app.ts <${Object.keys(APP_BUNDLES).join('|')}> <destination dir>\n`);
    process.exit(2);
  }
  await stageApp(app as keyof typeof APP_BUNDLES, destination);
  process.stdout.write(`staged ${app} in ${destination}\n`);
}
