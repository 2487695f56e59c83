import { unwatchFile, watchFile } from 'node:fs';
import type { Logger } from 'pino';
import { ApiKeyRegistry, readApiKeysFile, type RateLimit } from '@dfleet/api-keys';
import { AuthenticationError, RateLimitedError, TenantMismatchError } from './errors.ts';
import type { RedisRateLimiter } from './rate-limiter.ts';
import { parseTenant, TENANT_HEADER } from './request-identity.ts';

/** Who sent a request: the tenant its jobs belong to and, with API keys, which key. */
export interface Caller {
  tenant: string;
  /** null when authentication is off. */
  keyId: string | null;
}

/** What a request presents, from HTTP headers or gRPC metadata (same names on both). */
export interface RequestCredentials {
  /** The `authorization` header / metadata value. */
  authorization: string | undefined;
  /** The `x-dfleet-tenant` header / metadata value. */
  tenant: string | undefined;
}

export interface RequestAuthenticator {
  /**
   * @throws AuthenticationError (401), TenantMismatchError (403), RateLimitedError (429),
   * InvalidRequestError (malformed tenant), QueueUnavailableError (Redis down, 503).
   */
  authenticate(credentials: RequestCredentials): Promise<Caller>;
  close(): void;
}

/**
 * Authentication off (DFLEET_AUTH=off): every request is trusted and names its tenant in
 * `x-dfleet-tenant` (absent: "default"). Only for a gateway nobody else can reach.
 */
export class OpenAccess implements RequestAuthenticator {
  async authenticate(credentials: RequestCredentials): Promise<Caller> {
    return { tenant: parseTenant(credentials.tenant), keyId: null };
  }

  close(): void {}
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
const HOW_TO_SEND = "send it as 'Authorization: Bearer <key>' (gRPC: metadata 'authorization' with the same value)";

export interface ApiKeyAuthenticatorOptions {
  keysFile: string;
  /** Applies to keys whose entry has no `rate_limit`; null = unlimited. */
  defaultRateLimit: RateLimit | null;
  rateLimiter: RedisRateLimiter;
  logger: Logger;
  /** How often the keys file is checked for changes. @defaultValue 2000 */
  reloadIntervalMs?: number;
}

/**
 * API keys (DFLEET_AUTH=api-keys): each request presents a key; its SHA-256 names a tenant and a
 * rate limit in the keys file. The file is re-read when it changes, so keys can be added and
 * revoked without a restart; a file that no longer parses is refused and the previous keys stay.
 */
export class ApiKeyAuthenticator implements RequestAuthenticator {
  readonly #options: ApiKeyAuthenticatorOptions;
  readonly #registry: ApiKeyRegistry;
  readonly #onFileChange: () => void;

  /** @throws ApiKeysFileError when the file cannot be read or is invalid. */
  constructor(options: ApiKeyAuthenticatorOptions) {
    this.#options = options;
    this.#registry = new ApiKeyRegistry(readApiKeysFile(options.keysFile), options.defaultRateLimit);
    if (this.#registry.size === 0) {
      options.logger.warn(
        { keysFile: options.keysFile },
        'the API keys file holds no key: every request will get 401 until one is added',
      );
    }
    this.#onFileChange = () => this.#reload();
    watchFile(options.keysFile, { interval: options.reloadIntervalMs ?? 2_000, persistent: false }, this.#onFileChange);
  }

  async authenticate(credentials: RequestCredentials): Promise<Caller> {
    if (credentials.authorization === undefined || credentials.authorization === '') {
      throw new AuthenticationError('missing_api_key', `this gateway requires an API key: ${HOW_TO_SEND}`);
    }
    const bearer = BEARER.exec(credentials.authorization);
    if (!bearer)
      throw new AuthenticationError('invalid_api_key', `the authorization value is not a bearer token: ${HOW_TO_SEND}`);
    const identity = this.#registry.lookup(bearer[1] as string);
    if (!identity) {
      throw new AuthenticationError(
        'invalid_api_key',
        'the API key is not valid: it is unknown to this gateway or was revoked; ask the operator for a key',
      );
    }
    if (credentials.tenant !== undefined && credentials.tenant !== '' && credentials.tenant !== identity.tenant) {
      throw new TenantMismatchError(
        `${TENANT_HEADER} names tenant '${credentials.tenant}', but this API key belongs to tenant '${identity.tenant}'; drop the header (the key decides the tenant)`,
        TENANT_HEADER,
      );
    }
    if (identity.rateLimit !== null) {
      const verdict = await this.#options.rateLimiter.take(identity.keyId, identity.rateLimit);
      if (!verdict.admitted) {
        throw new RateLimitedError(
          `API key '${identity.keyId}' is over its rate limit of ${identity.rateLimit.requestsPerMinute} requests per minute (bursts of ${identity.rateLimit.burst}); retry in ${verdict.retryAfterMs} ms`,
          verdict.retryAfterMs,
        );
      }
    }
    return { tenant: identity.tenant, keyId: identity.keyId };
  }

  close(): void {
    unwatchFile(this.#options.keysFile, this.#onFileChange);
  }

  #reload(): void {
    const { keysFile, defaultRateLimit, logger } = this.#options;
    try {
      this.#registry.replace(readApiKeysFile(keysFile), defaultRateLimit);
      logger.info({ keysFile, keys: this.#registry.size }, 'API keys file reloaded');
    } catch (error) {
      logger.error({ keysFile, err: error }, 'API keys file changed but cannot be used; keeping the previous keys');
    }
  }
}
