import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AFTER_EACH_VARIABLE, EnvConfigError, parseEnv, port } from '../src/index.ts';

const schema = z
  .object({
    PORT: port(8080),
    MODE: z.enum(['fast', 'slow']).default('fast'),
    FILE: z.string().min(1).optional(),
  })
  .superRefine((e, ctx) => {
    if (e.MODE === 'slow' && e.FILE === undefined) ctx.addIssue({ code: 'custom', message: 'MODE=slow needs FILE' });
  }, AFTER_EACH_VARIABLE)
  .transform((e) => ({ port: e.PORT, mode: e.MODE }));

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseEnv(schema, env, 'test');
  } catch (error) {
    expect(error).toBeInstanceOf(EnvConfigError);
    expect(error).toMatchObject({ code: 'invalid_config' });
    return (error as EnvConfigError).problems;
  }
  throw new Error('expected the environment to be refused');
}

describe('parseEnv', () => {
  it('returns the transformed config, with defaults for unset and empty variables', () => {
    expect(parseEnv(schema, { PORT: '', UNRELATED: 'x' }, 'test')).toEqual({ port: 8080, mode: 'fast' });
    expect(parseEnv(schema, { PORT: '0', MODE: 'slow', FILE: '/f' }, 'test')).toEqual({ port: 0, mode: 'slow' });
  });

  it('names every bad variable in one error, each with what it allows', () => {
    expect(problemsOf({ PORT: '70000', MODE: 'medium' })).toEqual([
      'PORT: Too big: expected number to be <=65535',
      'MODE: Invalid option: expected one of "fast"|"slow"',
    ]);
    expect(() => parseEnv(schema, { PORT: 'x' }, 'test')).toThrow(/^invalid test environment: PORT: /);
  });

  it('runs cross-field rules once every variable parsed, and reports their message as written', () => {
    expect(problemsOf({ MODE: 'slow' })).toEqual(['MODE=slow needs FILE']);
    // A bad PORT is reported alone: the rule does not also run on a half-parsed environment.
    expect(problemsOf({ MODE: 'slow', PORT: '-1' })).toEqual(['PORT: Too small: expected number to be >=0']);
  });
});
