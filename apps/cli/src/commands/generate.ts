import { text } from 'node:stream/consumers';
import { loadCliConfig } from '../cli-env.ts';
import { parseCommandLine } from '../command-line.ts';
import { formatCompletion, requestCompletion, type CompletionBody } from '../completion-client.ts';
import { UsageError } from '../usage-error.ts';

const NUMBER_FLAGS = [
  'max-tokens',
  'gen-length',
  'temperature',
  'seed',
  'steps',
  'threshold',
  'factor',
  'gamma',
  'block-length',
] as const;

const GENERATE_USAGE = `usage: dfleet generate PROMPT [options]

Sends PROMPT to a running gateway and prints the completion with its tokens, steps, NFE and time.
"\\n" in PROMPT is a newline; a PROMPT of - is read from stdin as it is.

  --url URL               gateway to call (default: DFLEET_URL, else http://127.0.0.1:$DFLEET_PORT)
  --model NAME            model to ask for (default: the one the gateway serves)
  --max-tokens N          at most N answer tokens (a cap: the answer is cut, finish reason "length")
  --gen-length N          the canvas the model decodes (default: the model's trained length)
  --strategy NAME         threshold (the gateway's default), reference, factor or entropy-bounded
  --steps N  --threshold T  --factor F  --gamma G  --block-length N
                          that strategy's knobs
  --temperature T  --seed N
  -h, --help              print this and exit

The API key, if the gateway wants one, comes from DFLEET_API_KEY (a flag would show in ps).
`;

const spec = {
  usage: GENERATE_USAGE,
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    model: { type: 'string' },
    strategy: { type: 'string' },
    ...Object.fromEntries(NUMBER_FLAGS.map((flag) => [flag, { type: 'string' as const }])),
  },
} as const;

/** `dfleet generate "prompt"`: prints the completion with steps, NFE and time. */
export async function runGenerate(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const parsed = parseCommandLine(spec, args);
  if (!parsed) return;
  const { values, positionals } = parsed;
  const config = loadCliConfig(env);
  const numbers: Record<string, number> = {};
  for (const flag of NUMBER_FLAGS) {
    const raw = (values as Record<string, string | undefined>)[flag];
    if (raw === undefined) continue;
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new UsageError(`--${flag} must be a number; got "${raw}"`);
    numbers[flag] = value;
  }
  const prompt = await promptFrom(positionals);
  const dfleet: Record<string, string | number> = {};
  if (values.strategy) dfleet.strategy = values.strategy;
  for (const knob of ['steps', 'threshold', 'factor', 'gamma'] as const)
    if (numbers[knob] !== undefined) dfleet[knob] = numbers[knob];
  if (numbers['block-length'] !== undefined) dfleet.block_length = numbers['block-length'];
  if (numbers['gen-length'] !== undefined) dfleet.gen_length = numbers['gen-length'];
  const body: CompletionBody = { prompt };
  if (values.model) body.model = values.model;
  if (numbers['max-tokens'] !== undefined) body.max_tokens = numbers['max-tokens'];
  if (numbers.temperature !== undefined) body.temperature = numbers.temperature;
  if (numbers.seed !== undefined) body.seed = numbers.seed;
  if (Object.keys(dfleet).length > 0) body.dfleet = dfleet;
  // The key comes from the environment only: a flag would show it in `ps` and shell history.
  const completion = await requestCompletion(values.url ?? config.gatewayUrl, body, config.apiKey);
  process.stdout.write(`${formatCompletion(completion)}\n`);
}

/** The words of the command line as one prompt, or stdin verbatim for a lone "-" (as cat and curl read it). */
async function promptFrom(positionals: string[]): Promise<string> {
  if (positionals.length === 1 && positionals[0] === '-') {
    const fromStdin = await text(process.stdin);
    if (fromStdin === '') throw new UsageError('the prompt read from stdin (-) is empty');
    return fromStdin;
  }
  const prompt = positionals.join(' ').replace(/\\n/g, '\n');
  if (!prompt) throw new UsageError('generate needs a PROMPT (or - to read it from stdin)');
  return prompt;
}
