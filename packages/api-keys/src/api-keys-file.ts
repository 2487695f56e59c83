import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

/** Tenant names, as the gateway's `x-dfleet-tenant` header accepts them. */
export const TENANT_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

/** Every key dfleet issues starts with this, so a leaked one is easy to recognise in logs and scanners. */
export const API_KEY_PREFIX = 'dfk_';

/** A request rate: `requestsPerMinute` on average, with bursts of up to `burst` requests at once. */
export interface RateLimit {
  requestsPerMinute: number;
  burst: number;
}

/** What a valid key stands for. The key itself is never kept, only its SHA-256. */
export interface ApiKeyIdentity {
  /** The operator's name for the key (logs, rate-limit buckets); not a secret. */
  keyId: string;
  tenant: string;
  /** null = no rate limit for this key. */
  rateLimit: RateLimit | null;
}

export const KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const rateLimitSchema = z.strictObject({
  requests_per_minute: z.int().positive().max(6_000_000),
  burst: z.int().positive().max(1_000_000).optional(),
});

const keyEntrySchema = z.strictObject({
  id: z.string().regex(KEY_ID_PATTERN, 'must be 1 to 64 letters, digits, "_", "." or "-"'),
  tenant: z.string().regex(TENANT_PATTERN, 'must be 1 to 128 letters, digits, "_", "." or "-"'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the lowercase hex SHA-256 of the key (64 characters)'),
  /** Omitted: the gateway's default (DFLEET_RATE_LIMIT_PER_MINUTE); null: no limit for this key. */
  rate_limit: rateLimitSchema.nullable().optional(),
});

/** The API keys file (DFLEET_API_KEYS_FILE), as `dfleet keys create` writes it. */
export const apiKeysFileSchema = z.strictObject({ keys: z.array(keyEntrySchema) });
export type ApiKeysFile = z.infer<typeof apiKeysFileSchema>;
export type ApiKeyEntry = ApiKeysFile['keys'][number];

export class ApiKeysFileError extends Error {
  readonly code = 'invalid_api_keys_file';
  constructor(message: string) {
    super(message);
    this.name = 'ApiKeysFileError';
  }
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new random key: 256 bits, so an unsalted SHA-256 is enough to store it safely. */
export function generateApiKey(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** Burst when a limit names none: ten seconds' worth of requests, at least one. */
export function defaultBurst(requestsPerMinute: number): number {
  return Math.max(1, Math.ceil(requestsPerMinute / 6));
}

/** Parses the file's text; the error names the file, the entry and the field. */
export function parseApiKeysFile(text: string, path: string): ApiKeysFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ApiKeysFileError(`API keys file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = apiKeysFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`);
    throw new ApiKeysFileError(`API keys file ${path} is invalid: ${problems.join('; ')}`);
  }
  const seenIds = new Set<string>();
  const seenHashes = new Set<string>();
  for (const [index, entry] of parsed.data.keys.entries()) {
    if (seenIds.has(entry.id))
      throw new ApiKeysFileError(
        `API keys file ${path}: keys.${index}.id '${entry.id}' appears twice; ids must be unique`,
      );
    if (seenHashes.has(entry.sha256))
      throw new ApiKeysFileError(`API keys file ${path}: keys.${index}.sha256 repeats another entry's key`);
    seenIds.add(entry.id);
    seenHashes.add(entry.sha256);
  }
  return parsed.data;
}

export function readApiKeysFile(path: string): ApiKeysFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ApiKeysFileError(`cannot read API keys file ${path}: ${(error as Error).message}`);
  }
  return parseApiKeysFile(text, path);
}

/**
 * Writes the file atomically (a temp file renamed over it), so a gateway re-reading it never sees
 * half a file. Mode 0600: hashes are not keys, but the file still maps tenants and limits.
 */
export function writeApiKeysFile(path: string, file: ApiKeysFile): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(apiKeysFileSchema.parse(file), null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}

/** Maps presented keys to identities by their hash; holds no key in the clear. */
export class ApiKeyRegistry {
  #byHash: Map<string, ApiKeyIdentity>;

  constructor(file: ApiKeysFile, defaultRateLimit: RateLimit | null) {
    this.#byHash = ApiKeyRegistry.#index(file, defaultRateLimit);
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** The identity of a presented key, or null when no entry has its hash. */
  lookup(presentedKey: string): ApiKeyIdentity | null {
    return this.#byHash.get(hashApiKey(presentedKey)) ?? null;
  }

  /** Swaps in a new file's keys at once: a request sees either the old set or the new one. */
  replace(file: ApiKeysFile, defaultRateLimit: RateLimit | null): void {
    this.#byHash = ApiKeyRegistry.#index(file, defaultRateLimit);
  }

  static #index(file: ApiKeysFile, defaultRateLimit: RateLimit | null): Map<string, ApiKeyIdentity> {
    return new Map(
      file.keys.map((entry) => {
        const own = entry.rate_limit;
        const rateLimit =
          own === undefined
            ? defaultRateLimit
            : own === null
              ? null
              : {
                  requestsPerMinute: own.requests_per_minute,
                  burst: own.burst ?? defaultBurst(own.requests_per_minute),
                };
        return [entry.sha256, { keyId: entry.id, tenant: entry.tenant, rateLimit }];
      }),
    );
  }
}
