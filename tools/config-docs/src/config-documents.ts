import { cliEnv } from '@dfleet/cli';
import { renderAppConfigTable, renderFleetConfigTable, type AppEnv, type BlockMarkers } from '@dfleet/env-config';
import { gatewayEnv } from '@dfleet/gateway';
import { METRIC_TABLE_MARKERS, renderMetricTable } from '@dfleet/telemetry';
import { workerEnv } from '@dfleet/worker';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const gateway: AppEnv = { name: 'gateway', schema: gatewayEnv };
const worker: AppEnv = { name: 'worker', schema: workerEnv };
const cli: AppEnv = { name: 'cli', schema: cliEnv };

/**
 * Each generated table of a markdown file (path from the repo root): the configuration tables
 * from the env schemas, and the metric table from the metric catalogue. Markers absent = the
 * configuration table's.
 */
export const CONFIG_DOCUMENTS: readonly { path: string; table: () => string; markers?: BlockMarkers }[] = [
  { path: 'README.md', table: () => renderFleetConfigTable([gateway, worker, cli]) },
  { path: 'apps/gateway/README.md', table: () => renderAppConfigTable(gateway) },
  { path: 'apps/worker/README.md', table: () => renderAppConfigTable(worker) },
  { path: 'README.md', table: renderMetricTable, markers: METRIC_TABLE_MARKERS },
];
