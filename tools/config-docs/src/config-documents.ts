import { cliEnv } from '@dfleet/cli';
import { renderAppConfigTable, renderFleetConfigTable, type AppEnv } from '@dfleet/env-config';
import { gatewayEnv } from '@dfleet/gateway';
import { workerEnv } from '@dfleet/worker';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const gateway: AppEnv = { name: 'gateway', schema: gatewayEnv };
const worker: AppEnv = { name: 'worker', schema: workerEnv };
const cli: AppEnv = { name: 'cli', schema: cliEnv };

/** Each markdown file with a generated configuration table (path from the repo root), and that table. */
export const CONFIG_DOCUMENTS: readonly { path: string; table: () => string }[] = [
  { path: 'README.md', table: () => renderFleetConfigTable([gateway, worker, cli]) },
  { path: 'apps/gateway/README.md', table: () => renderAppConfigTable(gateway) },
  { path: 'apps/worker/README.md', table: () => renderAppConfigTable(worker) },
];
