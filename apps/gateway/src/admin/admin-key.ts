import { createHash, timingSafeEqual } from 'node:crypto';
import { AdminAuthenticationError } from '../errors.ts';

/** What a browser shows when it asks for the admin credentials. */
export const ADMIN_CHALLENGE = 'Basic realm="dfleet admin", charset="UTF-8"';

const HOW_TO_SEND =
  'log in with any user name and DFLEET_ADMIN_KEY as the password (HTTP Basic), or send `Authorization: Bearer <DFLEET_ADMIN_KEY>`';

/**
 * DFLEET_ADMIN_KEY, checked against an `Authorization` header in constant time: both sides are
 * hashed first, so neither the key's length nor its first differing byte shows in the timing.
 */
export class AdminKey {
  readonly #digest: Buffer;

  constructor(key: string) {
    this.#digest = sha256(key);
  }

  /** @throws AdminAuthenticationError when the header is missing, malformed, or holds another key. */
  check(authorization: string | undefined): void {
    if (authorization === undefined || authorization.trim() === '') {
      throw new AdminAuthenticationError('missing_admin_key', `the admin pages need DFLEET_ADMIN_KEY: ${HOW_TO_SEND}`);
    }
    const offered = offeredKey(authorization);
    if (offered === null) {
      throw new AdminAuthenticationError(
        'invalid_admin_key',
        `the authorization header is neither Basic nor Bearer: ${HOW_TO_SEND}`,
      );
    }
    if (!timingSafeEqual(sha256(offered), this.#digest)) {
      throw new AdminAuthenticationError('invalid_admin_key', `that is not DFLEET_ADMIN_KEY: ${HOW_TO_SEND}`);
    }
  }
}

/** The key a header offers: a Bearer token, or a Basic password (the user name is ignored). */
function offeredKey(authorization: string): string | null {
  const match = /^(Basic|Bearer)\s+(\S+)\s*$/i.exec(authorization);
  if (!match) return null;
  const [, scheme, value] = match as unknown as [string, string, string];
  if (scheme.toLowerCase() === 'bearer') return value;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
