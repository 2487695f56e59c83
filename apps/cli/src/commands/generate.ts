import { parseArgs } from 'node:util';
import { CliError } from '../cli-error.ts';
import { formatCompletion, gatewayUrlFrom, requestCompletion, type CompletionBody } from '../completion-client.ts';

const NUMBER_FLAGS = ['max-tokens', 'temperature', 'seed', 'steps', 'threshold', 'factor', 'gamma', 'block-length'] as const;

/** `dfleet generate "prompt"`: prints the completion with steps, NFE and time. */
export async function runGenerate(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      model: { type: 'string' },
      strategy: { type: 'string' },
      ...Object.fromEntries(NUMBER_FLAGS.map((flag) => [flag, { type: 'string' as const }])),
    },
  });
  const prompt = positionals.join(' ').replace(/\\n/g, '\n');
  if (!prompt) throw new CliError('missing_prompt', 'usage: dfleet generate "PROMPT" [--strategy threshold --threshold 0.9 --max-tokens 48 --seed 0 --url URL]');
  const numbers: Record<string, number> = {};
  for (const flag of NUMBER_FLAGS) {
    const raw = (values as Record<string, string | undefined>)[flag];
    if (raw === undefined) continue;
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new CliError('invalid_flag', `--${flag} must be a number; got "${raw}".`);
    numbers[flag] = value;
  }
  const dfleet: Record<string, string | number> = {};
  if (values.strategy) dfleet.strategy = values.strategy;
  for (const knob of ['steps', 'threshold', 'factor', 'gamma'] as const) if (numbers[knob] !== undefined) dfleet[knob] = numbers[knob];
  if (numbers['block-length'] !== undefined) dfleet.block_length = numbers['block-length'];
  const body: CompletionBody = { prompt };
  if (values.model) body.model = values.model;
  if (numbers['max-tokens'] !== undefined) body.max_tokens = numbers['max-tokens'];
  if (numbers.temperature !== undefined) body.temperature = numbers.temperature;
  if (numbers.seed !== undefined) body.seed = numbers.seed;
  if (Object.keys(dfleet).length > 0) body.dfleet = dfleet;
  // The key comes from the environment only: a flag would show it in `ps` and shell history.
  const completion = await requestCompletion(values.url ?? gatewayUrlFrom(env), body, env.DFLEET_API_KEY);
  process.stdout.write(`${formatCompletion(completion)}\n`);
}
