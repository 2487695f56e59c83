import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const DFLEET = fileURLToPath(new URL('../bin/dfleet.mjs', import.meta.url));
const MODEL_DIR = fileURLToPath(new URL('../../../models/jsfunc-mdm/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'dfleet-model-reduce-cli-'));

const dfleet = (args: string[]) =>
  spawnSync(process.execPath, [DFLEET, ...args], { encoding: 'utf8', timeout: 120_000 });

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('dfleet model reduce', () => {
  it('writes a reduced model directory and says what it has', () => {
    const out = join(work, 'reduced');
    const run = dfleet(['model', 'reduce', MODEL_DIR, out, '--top-k', '2', '--positions']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('top_k_ids/top_k_logits (k=2)');
    expect(run.stdout).toContain('positions input: yes; suppressed ids: 0, 1, 3');
    const manifest = JSON.parse(readFileSync(join(out, 'dfleet-model.json'), 'utf8')) as { outputs: unknown };
    expect(manifest.outputs).toEqual({
      form: 'reduced',
      topK: 2,
      positionsInput: true,
      logits: false,
      suppressedTokenIds: [0, 1, 3, 4],
    });
  });

  it('exits 2 with the usage for a missing OUT_DIR or a bad --top-k', () => {
    const missing = dfleet(['model', 'reduce', MODEL_DIR]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('model reduce needs IN_DIR and OUT_DIR');
    expect(missing.stderr).toContain("see 'dfleet model reduce --help'");
    const badTopK = dfleet(['model', 'reduce', MODEL_DIR, join(work, 'bad'), '--top-k', '9']);
    expect(badTopK.status).toBe(2);
    expect(badTopK.stderr).toContain('--top-k must be an integer in [0, 8]; got "9"');
  });

  it('exits 1 and names the problem when OUT_DIR is not empty', () => {
    const busy = join(work, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'notes.txt'), 'keep me');
    const run = dfleet(['model', 'reduce', MODEL_DIR, busy]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/is not empty: give a new or empty directory/);
  });
});
