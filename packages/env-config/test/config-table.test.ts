import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  GENERATED_BLOCK_BEGIN,
  GENERATED_BLOCK_END,
  documented,
  port,
  readGeneratedBlock,
  renderAppConfigTable,
  renderFleetConfigTable,
  replaceGeneratedBlock,
} from '../src/index.ts';

const shared = { REDIS: documented(z.string().default('redis://h'), { meaning: 'the Redis' }) };
const server = {
  name: 'server',
  schema: z.object({
    ...shared,
    PORT: documented(port(8080), { meaning: 'HTTP port' }),
    GRACE_MS: documented(z.coerce.number().default(10), { meaning: 'grace for requests' }),
    CAP: documented(z.coerce.number().default(0), { default: '`0` (no cap)', meaning: 'a cap | or not' }),
    KEYS: documented(z.string().optional(), { meaning: 'keys file' }),
  }),
};
const runner = {
  name: 'runner',
  schema: z.object({ ...shared, GRACE_MS: documented(z.coerce.number().default(30), { meaning: 'grace for jobs' }) }),
};
const client = {
  name: 'client',
  schema: z.object({
    ...shared,
    PORT: documented(port(8080), {}),
    URL: documented(z.string().optional(), { default: '`http://127.0.0.1:$PORT`', meaning: 'server to call' }),
  }),
};

describe('renderFleetConfigTable', () => {
  it('gives one row per variable, with the apps that read it and their defaults and meanings merged', () => {
    expect(renderFleetConfigTable([server, runner, client]).split('\n')).toEqual([
      '| Variable | Used by | Default | Meaning |',
      '| --- | --- | --- | --- |',
      '| `REDIS` | all | `redis://h` | the Redis |',
      '| `PORT` | server, client | `8080` | HTTP port |',
      '| `GRACE_MS` | server, runner | server: `10`; runner: `30` | ' +
        'server: grace for requests; runner: grace for jobs |',
      '| `CAP` | server | `0` (no cap) | a cap \\| or not |',
      '| `KEYS` | server | unset | keys file |',
      '| `URL` | client | `http://127.0.0.1:$PORT` | server to call |',
    ]);
  });

  it('refuses a variable without documentation, and a written default that leaves out the schema default', () => {
    const bare = { name: 'bare', schema: z.object({ X: z.string().optional() }) };
    expect(() => renderFleetConfigTable([bare])).toThrow("bare's X has no documentation");
    const stale = documented(z.coerce.number().default(5), { default: '`4`', meaning: 'n' });
    const drifted = { name: 'd', schema: z.object({ N: stale }) };
    expect(() => renderFleetConfigTable([drifted])).toThrow("does not show the schema's default `5`");
  });
});

describe('renderAppConfigTable', () => {
  it("lists one app's variables with its own defaults", () => {
    expect(renderAppConfigTable(runner).split('\n')).toEqual([
      '| Variable | Default | Meaning |',
      '| --- | --- | --- |',
      '| `REDIS` | `redis://h` | the Redis |',
      '| `GRACE_MS` | `30` | grace for jobs |',
    ]);
  });
});

describe('generated blocks', () => {
  it('replaces only the text between the markers, and reads it back', () => {
    const document = `# Title\n\n${GENERATED_BLOCK_BEGIN}\nold table\n${GENERATED_BLOCK_END}\n\nafter\n`;
    const updated = replaceGeneratedBlock(document, '| new |');
    expect(updated).toBe(`# Title\n\n${GENERATED_BLOCK_BEGIN}\n| new |\n${GENERATED_BLOCK_END}\n\nafter\n`);
    expect(readGeneratedBlock(updated)).toBe('| new |');
    expect(readGeneratedBlock('# no markers')).toBeUndefined();
    expect(() => replaceGeneratedBlock('# no markers', 'x')).toThrow('no generated block');
  });
});
