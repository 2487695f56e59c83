import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
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
import { loadCliConfig } from '../cli-env.ts';
import { asksForHelp, parseCommandLine } from '../command-line.ts';
import { UsageError } from '../usage-error.ts';

const FILE_NOTE = 'FILE defaults to DFLEET_API_KEYS_FILE, the file the gateways read.\n';

const KEYS_USAGE = `usage: dfleet keys <create|list|revoke> [--file FILE]

  create --tenant T [--id ID] [--rate-limit N [--burst B] | --unlimited]
                   issue a key for tenant T; prints the key once (only its SHA-256 is stored)
  list             the keys in the file: id, tenant, rate limit
  revoke ID        remove a key; running gateways stop accepting it within 2 s

${FILE_NOTE}'dfleet keys SUBCOMMAND --help' says more about each.
`;

const fileOption = { file: { type: 'string' } } as const;

const CREATE = {
  usage: `usage: dfleet keys create --tenant T [--id ID] [--rate-limit N [--burst B] | --unlimited] [--file FILE]

Issues a key for tenant T and prints it once on stdout; the file keeps only its SHA-256.

  --tenant T        the tenant the key speaks for (required): 1 to 128 letters, digits, "_", "." or "-"
  --id ID           the key's name in the file (default: T plus a random suffix)
  --rate-limit N    requests per minute for this key; --burst B: how many at once (default: 10 s worth)
  --unlimited       no rate limit for this key
  -h, --help        print this and exit

Without --rate-limit or --unlimited the key gets the gateway's DFLEET_RATE_LIMIT_PER_MINUTE.
${FILE_NOTE}`,
  options: {
    ...fileOption,
    tenant: { type: 'string' },
    id: { type: 'string' },
    'rate-limit': { type: 'string' },
    burst: { type: 'string' },
    unlimited: { type: 'boolean', default: false },
  },
} as const;

const LIST = {
  usage: `usage: dfleet keys list [--file FILE]

Prints one line per key: id, tenant, rate limit (never the key: the file does not have it).
${FILE_NOTE}`,
  options: fileOption,
} as const;

const REVOKE = {
  usage: `usage: dfleet keys revoke ID [--file FILE]

Removes the key ID from the file; running gateways stop accepting it within 2 s.
${FILE_NOTE}`,
  options: fileOption,
  allowPositionals: true,
} as const;

type Out = (line: string) => void;

/** `dfleet keys ...`: manages the hashed API keys file the gateways read. */
export async function runKeys(
  args: string[],
  env: NodeJS.ProcessEnv,
  out: Out = (line) => process.stdout.write(`${line}\n`),
): Promise<void> {
  const [subcommand, ...rest] = args;
  switch (subcommand) {
    case 'create': {
      const parsed = parseCommandLine(CREATE, rest);
      if (parsed) createKey(keysFile(parsed.values.file, env), parsed.values, out);
      return;
    }
    case 'list': {
      const parsed = parseCommandLine(LIST, rest);
      if (!parsed) return;
      const file = keysFile(parsed.values.file, env);
      for (const entry of load(file, false).keys)
        out(`${entry.id}\ttenant=${entry.tenant}\trate_limit=${describeLimit(entry)}`);
      return;
    }
    case 'revoke': {
      const parsed = parseCommandLine(REVOKE, rest);
      if (parsed) revokeKey(keysFile(parsed.values.file, env), parsed.positionals);
      return;
    }
    case undefined:
      throw new UsageError('keys needs a subcommand: create, list or revoke');
    default:
      if (!asksForHelp([subcommand])) throw new UsageError(`unknown keys subcommand '${subcommand}'`);
      process.stdout.write(KEYS_USAGE);
  }
}

function keysFile(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const file = flag ?? loadCliConfig(env).apiKeysFile;
  if (file === undefined || file === '') {
    throw new UsageError('name the keys file with --file FILE or DFLEET_API_KEYS_FILE');
  }
  return file;
}

function revokeKey(file: string, positionals: string[]): void {
  const [id, ...extra] = positionals;
  if (id === undefined) throw new UsageError('name the key to revoke: dfleet keys revoke ID');
  if (extra.length > 0) throw new UsageError(`revoke takes one key id; got also '${extra.join(' ')}'`);
  const current = load(file, false);
  if (!current.keys.some((entry) => entry.id === id)) {
    throw new CliError('unknown_key_id', `no key '${id}' in ${file}; see \`dfleet keys list\``);
  }
  writeApiKeysFile(file, { keys: current.keys.filter((entry) => entry.id !== id) });
  process.stderr.write(`revoked key '${id}' in ${file}\n`);
}

function createKey(
  file: string,
  values: {
    tenant?: string | undefined;
    id?: string | undefined;
    'rate-limit'?: string | undefined;
    burst?: string | undefined;
    unlimited?: boolean | undefined;
  },
  out: Out,
): void {
  const tenant = values.tenant;
  if (tenant === undefined || !TENANT_PATTERN.test(tenant)) {
    throw new UsageError('--tenant is required: 1 to 128 letters, digits, "_", "." or "-"');
  }
  const id = values.id ?? `${tenant.slice(0, 55)}-${randomBytes(4).toString('hex')}`;
  if (!KEY_ID_PATTERN.test(id)) throw new UsageError('--id must be 1 to 64 letters, digits, "_", "." or "-"');
  const entry: ApiKeyEntry = { id, tenant, sha256: '' };
  if (values.unlimited) {
    if (values['rate-limit'] !== undefined) throw new UsageError('give --rate-limit or --unlimited, not both');
    entry.rate_limit = null;
  } else if (values['rate-limit'] !== undefined) {
    const perMinute = positiveInteger('--rate-limit', values['rate-limit']);
    entry.rate_limit = {
      requests_per_minute: perMinute,
      ...(values.burst === undefined ? {} : { burst: positiveInteger('--burst', values.burst) }),
    };
  } else if (values.burst !== undefined) {
    throw new UsageError('--burst needs --rate-limit');
  }

  const current = load(file, true);
  if (current.keys.some((existing) => existing.id === id)) {
    throw new CliError(
      'duplicate_key_id',
      `${file} already has a key '${id}'; pick another --id or revoke that one first`,
    );
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
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`${flag} must be a positive integer; got "${raw}"`);
  return value;
}

function describeLimit(entry: ApiKeyEntry): string {
  if (entry.rate_limit === undefined) return 'gateway default';
  if (entry.rate_limit === null) return 'unlimited';
  return `${entry.rate_limit.requests_per_minute}/min${entry.rate_limit.burst === undefined ? '' : `, burst ${entry.rate_limit.burst}`}`;
}
