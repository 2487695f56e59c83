export { documented, envDocs } from './env-docs.ts';
export type { EnvVarDoc } from './env-docs.ts';
export { AFTER_EACH_VARIABLE, EnvConfigError, parseEnv } from './parse-env.ts';
export { LOG_LEVELS, logLevelVariable, port, positiveInt } from './env-variables.ts';
export type { LogLevel } from './env-variables.ts';
export { renderAppConfigTable, renderFleetConfigTable } from './config-table.ts';
export type { AppEnv } from './config-table.ts';
export {
  GENERATED_BLOCK_BEGIN,
  GENERATED_BLOCK_END,
  readGeneratedBlock,
  replaceGeneratedBlock,
} from './generated-block.ts';
export type { BlockMarkers } from './generated-block.ts';
