import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  ApiKeysFileError,
  KEY_ID_PATTERN,
  TENANT_PATTERN,
  generateApiKey,
  hashApiKey,
  readApiKeysFile,
  writeApiKeysFile,
  type ApiKeyEntry,
  type ApiKeysFile,
} from '@dfleet/api-keys';
import { CliError } from '../cli-error.ts';

const KEYS_USAGE = `usage: dfleet keys <create|list|revoke> [--file FILE]

  create --tenant T [--id ID] [--rate-limit N [--burst B] | --unlimited]
                   issue a key for tenant T; prints the key once (only its SHA-256 is stored)
  list             the keys in the file: id, tenant, rate limit
  revoke ID        remove a key; running gateways stop accepting it within 2 s

FILE defaults to DFLEET_API_KEYS_FILE. Without --rate-limit or --unlimited a key gets the
gateway's DFLEET_RATE_LIMIT_PER_MINUTE.
`;

/** `dfleet keys ...`: manages the hashed API keys file the gateways read. */
export async function runKeys(args: string[], env: NodeJS.ProcessEnv, out: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const [subcommand, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      file: { type: 'string' },
      tenant: { type: 'string' },
      id: { type: 'string' },
      'rate-limit': { type: 'string' },
      burst: { type: 'string' },
      unlimited: { type: 'boolean', default: false },
    },
  });
  const file = values.file ?? env.DFLEET_API_KEYS_FILE;
  if (file === undefined || file === '') {
    throw new CliError('missing_keys_file', `name the keys file with --file FILE or DFLEET_API_KEYS_FILE\n\n${KEYS_USAGE}`, 2);
  }
  switch (subcommand) {
    case 'create':
      return createKey(file, values, out);
    case 'list':
      for (const entry of load(file, false).keys) out(`${entry.id}\ttenant=${entry.tenant}\trate_limit=${describeLimit(entry)}`);
      return;
    case 'revoke': {
      const id = positionals[0];
      if (id === undefined) throw new CliError('missing_key_id', `name the key to revoke: dfleet keys revoke ID\n\n${KEYS_USAGE}`, 2);
      const current = load(file, false);
      if (!current.keys.some((entry) => entry.id === id)) {
        throw new CliError('unknown_key_id', `no key '${id}' in ${file}; see \`dfleet keys list\``);
      }
      writeApiKeysFile(file, { keys: current.keys.filter((entry) => entry.id !== id) });
      process.stderr.write(`revoked key '${id}' in ${file}\n`);
      return;
    }
    default:
      throw new CliError('unknown_command', `unknown keys subcommand "${subcommand ?? ''}"\n\n${KEYS_USAGE}`, 2);
  }
}

function createKey(
  file: string,
  values: { tenant?: string | undefined; id?: string | undefined; 'rate-limit'?: string | undefined; burst?: string | undefined; unlimited?: boolean | undefined },
  out: (line: string) => void,
): void {
  const tenant = values.tenant;
  if (tenant === undefined || !TENANT_PATTERN.test(tenant)) {
    throw new CliError('invalid_flag', '--tenant is required: 1 to 128 letters, digits, "_", "." or "-"', 2);
  }
  const id = values.id ?? `${tenant.slice(0, 55)}-${randomBytes(4).toString('hex')}`;
  if (!KEY_ID_PATTERN.test(id)) throw new CliError('invalid_flag', '--id must be 1 to 64 letters, digits, "_", "." or "-"', 2);
  const entry: ApiKeyEntry = { id, tenant, sha256: '' };
  if (values.unlimited) {
    if (values['rate-limit'] !== undefined) throw new CliError('invalid_flag', 'give --rate-limit or --unlimited, not both', 2);
    entry.rate_limit = null;
  } else if (values['rate-limit'] !== undefined) {
    const perMinute = positiveInteger('--rate-limit', values['rate-limit']);
    entry.rate_limit = { requests_per_minute: perMinute, ...(values.burst === undefined ? {} : { burst: positiveInteger('--burst', values.burst) }) };
  } else if (values.burst !== undefined) {
    throw new CliError('invalid_flag', '--burst needs --rate-limit', 2);
  }

  const current = load(file, true);
  if (current.keys.some((existing) => existing.id === id)) {
    throw new CliError('duplicate_key_id', `${file} already has a key '${id}'; pick another --id or revoke that one first`);
  }
  const key = generateApiKey();
  entry.sha256 = hashApiKey(key);
  writeApiKeysFile(file, { keys: [...current.keys, entry] });
  process.stderr.write(
    `created key '${id}' for tenant '${tenant}' (rate limit: ${describeLimit(entry)}) in ${file}.\n` +
      'Only its SHA-256 is stored: copy the key below now; send it as "Authorization: Bearer <key>" (dfleet generate reads DFLEET_API_KEY).\n',
  );
  out(key);
}

function load(file: string, mayBeMissing: boolean): ApiKeysFile {
  if (mayBeMissing && !existsSync(file)) return { keys: [] };
  try {
    return readApiKeysFile(file);
  } catch (error) {
    if (error instanceof ApiKeysFileError) throw new CliError(error.code, error.message);
    throw error;
  }
}

function positiveInteger(flag: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new CliError('invalid_flag', `${flag} must be a positive integer; got "${raw}"`, 2);
  return value;
}

function describeLimit(entry: ApiKeyEntry): string {
  if (entry.rate_limit === undefined) return 'gateway default';
  if (entry.rate_limit === null) return 'unlimited';
  return `${entry.rate_limit.requests_per_minute}/min${entry.rate_limit.burst === undefined ? '' : `, burst ${entry.rate_limit.burst}`}`;
}
