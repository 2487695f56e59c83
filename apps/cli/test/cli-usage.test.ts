import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DFLEET_BIN } from '@dfleet/test-support';
import { cleanEnv, runDfleet } from './support/run-dfleet.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const HELP_COMMANDS = [
  'up',
  'generate',
  'batch',
  'status',
  'model',
  'model check',
  'worker',
  'keys',
  'keys create',
  'keys list',
  'keys revoke',
];

// Each test runs the real bin (a second or two under load), so they run side by side.
describe.concurrent('dfleet --help', () => {
  it.each(HELP_COMMANDS)('prints the usage of `dfleet %s` and starts nothing', async (command) => {
    const words = command.split(' ');
    for (const flag of ['--help', '-h']) {
      // A Redis URL no one answers on: a command that went on to start something would log or fail.
      const run = await runDfleet([...words, flag], { env: cleanEnv({ REDIS_URL: 'redis://127.0.0.1:1' }) });
      expect(run).toMatchObject({ status: 0, stderr: '' });
      expect(run.stdout).toMatch(new RegExp(`^usage: dfleet ${words[0]}`));
    }
  });

  it('prints the usage with the other arguments present, before looking at them', async () => {
    const args = ['generate', '--no-such-flag', 'a prompt', '--help'];
    const run = await runDfleet(args, { env: cleanEnv({ DFLEET_PORT: 'x' }) });
    expect(run).toMatchObject({ status: 0, stderr: '' });
    expect(run.stdout).toMatch(/^usage: dfleet generate PROMPT/);
  });

  it('lists every command for `dfleet --help`', async () => {
    const run = await runDfleet(['--help']);
    expect(run.status).toBe(0);
    for (const command of ['up', 'generate', 'batch', 'status', 'model check', 'worker', 'keys']) {
      expect(run.stdout).toContain(`  ${command}`);
    }
  });
});

describe('dfleet --version', () => {
  const manifest = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  const { version } = JSON.parse(manifest) as { version: string };

  it("prints the CLI package's version", async () => {
    expect(await runDfleet(['--version'])).toEqual({ status: 0, stdout: `dfleet ${version}\n`, stderr: '' });
  });

  it('runs as `npx dfleet` from the repository root, and as the bin from any directory', () => {
    const options = { env: cleanEnv(), encoding: 'utf8' } as const;
    const npx = spawnSync('npx', ['--no-install', 'dfleet', '--version'], { ...options, cwd: REPO_ROOT });
    expect(npx.stdout).toBe(`dfleet ${version}\n`);
    const elsewhere = spawnSync(process.execPath, [DFLEET_BIN, '--version'], { ...options, cwd: tmpdir() });
    expect(elsewhere).toMatchObject({ status: 0, stdout: `dfleet ${version}\n`, stderr: '' });
  });
});

describe.concurrent('usage errors', () => {
  it.each([
    [['bogus'], "dfleet: unknown command 'bogus'", 'dfleet --help'],
    [['generate'], 'dfleet: generate needs a PROMPT (or - to read it from stdin)', 'dfleet generate --help'],
    [['generate', 'x', '--bogus'], "dfleet: unknown option '--bogus'", 'dfleet generate --help'],
    [['generate', 'x', '--seed', 'ten'], 'dfleet: --seed must be a number; got "ten"', 'dfleet generate --help'],
    [['generate', '--url'], "dfleet: option '--url <value>' argument missing", 'dfleet generate --help'],
    [['batch', '-o', 'out.jsonl'], 'dfleet: batch needs exactly one input file (IN.jsonl)', 'dfleet batch --help'],
    [['batch', 'in.jsonl'], 'dfleet: -o OUT.jsonl is required', 'dfleet batch --help'],
    [
      ['batch', 'in.jsonl', '-o', 'o.jsonl', '--via', 'ftp'],
      'dfleet: --via must be one of completions, batch-api; got "ftp"',
      'dfleet batch --help',
    ],
    [
      ['batch', 'in.jsonl', '-o', 'o.jsonl', '--concurrency', '0'],
      'dfleet: --concurrency must be an integer of at least 1',
      'dfleet batch --help',
    ],
    [['up', 'now'], "dfleet: unexpected argument 'now'", 'dfleet up --help'],
    [['worker', '--gpus', 'gpu0'], 'dfleet: --gpus must be "all" or a comma-separated list', 'dfleet worker --help'],
    [['model'], 'dfleet: model needs a subcommand: check', 'dfleet model --help'],
    [['model', 'check'], 'dfleet: model check needs the model directory', 'dfleet model check --help'],
    [['keys', 'rotate'], "dfleet: unknown keys subcommand 'rotate'", 'dfleet keys --help'],
    [['keys', 'list'], 'dfleet: name the keys file with --file FILE or DFLEET_API_', 'dfleet keys list --help'],
    [['keys', 'create', '--file', '/nonexistent/k.json'], 'dfleet: --tenant is required', 'dfleet keys create --help'],
  ])('`dfleet %j` prints one line and a pointer to --help, and exits 2', async (args, message, help) => {
    const run = await runDfleet(args);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(message);
    expect(lines[1]).toBe(`see '${help}'`);
  });

  it('names every bad environment variable in one line, without a stack trace', async () => {
    const env = cleanEnv({ DFLEET_PORT: '99999', DFLEET_URL: 'ftp://gateway' });
    const run = await runDfleet(['generate', 'x'], { env });
    expect(run.status).toBe(78);
    expect(run.stderr).toBe(
      'dfleet: invalid dfleet environment: DFLEET_PORT: Too big: expected number to be <=65535; ' +
        'DFLEET_URL: must be an http:// or https:// URL\n',
    );
  });
});
