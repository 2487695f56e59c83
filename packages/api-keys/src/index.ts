export {
  API_KEY_PREFIX,
  ApiKeyRegistry,
  ApiKeysFileError,
  KEY_ID_PATTERN,
  TENANT_PATTERN,
  apiKeysFileSchema,
  defaultBurst,
  generateApiKey,
  hashApiKey,
  parseApiKeysFile,
  readApiKeysFile,
  writeApiKeysFile,
} from './api-keys-file.ts';
export type { ApiKeyEntry, ApiKeyIdentity, ApiKeysFile, RateLimit } from './api-keys-file.ts';
