import { fileURLToPath } from 'node:url';

/** Paths inside the checkout; the CLI starts the apps from source through tsx. */
export const GATEWAY_ENTRY = fileURLToPath(new URL('../../gateway/src/main.ts', import.meta.url));
export const WORKER_ENTRY = fileURLToPath(new URL('../../worker/src/main.ts', import.meta.url));
/** tsx's loader, resolved from here so processes the CLI starts find it from any working directory. */
export const TSX_LOADER = import.meta.resolve('tsx');
