import { fileURLToPath } from 'node:url';

/** The apps' entry points in this checkout; tests start them from source through tsx. */
export const GATEWAY_ENTRY = fileURLToPath(new URL('../../../apps/gateway/src/main.ts', import.meta.url));
export const WORKER_ENTRY = fileURLToPath(new URL('../../../apps/worker/src/main.ts', import.meta.url));
export const DFLEET_BIN = fileURLToPath(new URL('../../../apps/cli/bin/dfleet.mjs', import.meta.url));
