import { resolve } from 'node:path';
import { MAX_REDUCED_TOP_K, ModelPackageError, reduceModelDirectory } from '@dfleet/model';
import { CliError } from '../cli-error.ts';
import { parseCommandLine } from '../command-line.ts';
import { UsageError } from '../usage-error.ts';

const USAGE = `usage: dfleet model reduce IN_DIR OUT_DIR [--top-k K] [--keep-logits] [--positions]

  Appends the reduced outputs (top_token, top_confidence, entropy) to a v1 model directory's
  model.onnx, so that a forward pass returns a token and its probability per position instead
  of the logits [B, L, V]. OUT_DIR must be new or empty.

  --top-k K       also output the K best ids and their logits (0..${MAX_REDUCED_TOP_K}, default 0)
  --keep-logits   keep the logits output too (default: dropped)
  --positions     add a positions input [B, P]: the LM head runs only at those canvas positions
`;

/** `dfleet model reduce IN_DIR OUT_DIR`: writes the reduced (v2 contract) copy of a model directory. */
export async function runModelReduce(args: string[]): Promise<void> {
  const parsed = parseCommandLine(
    {
      usage: USAGE,
      allowPositionals: true,
      options: {
        'top-k': { type: 'string' },
        'keep-logits': { type: 'boolean', default: false },
        positions: { type: 'boolean', default: false },
      },
    },
    args,
  );
  if (!parsed) return;
  const { values, positionals } = parsed;
  const [inDir, outDir, ...extra] = positionals;
  if (inDir === undefined || outDir === undefined) {
    throw new UsageError('model reduce needs IN_DIR and OUT_DIR: dfleet model reduce IN_DIR OUT_DIR');
  }
  if (extra.length > 0) throw new UsageError(`model reduce takes two directories; got also '${extra.join(' ')}'`);
  const topK = values['top-k'] === undefined ? 0 : Number(values['top-k']);
  if (!Number.isInteger(topK) || topK < 0 || topK > MAX_REDUCED_TOP_K) {
    throw new UsageError(`--top-k must be an integer in [0, ${MAX_REDUCED_TOP_K}]; got "${values['top-k']}"`);
  }
  try {
    const result = await reduceModelDirectory(resolve(inDir), resolve(outDir), {
      topK,
      keepLogits: values['keep-logits'],
      positionsInput: values.positions,
    });
    const { outputs } = result;
    const names = ['top_token', 'top_confidence', 'entropy'];
    if (outputs.topK > 0) names.push(`top_k_ids/top_k_logits (k=${outputs.topK})`);
    if (outputs.logits) names.push('logits');
    const suppressed = outputs.suppressedTokenIds.join(', ');
    process.stdout.write(
      `reduced ${inDir} -> ${outDir} (${(result.onnxBytes / 1e6).toFixed(1)} MB model.onnx)\n` +
        `  outputs: ${names.join(', ')}\n` +
        `  positions input: ${outputs.positionsInput ? 'yes' : 'no'}; suppressed ids: ${suppressed}\n`,
    );
  } catch (error) {
    if (error instanceof ModelPackageError) throw new CliError(error.code, error.message);
    throw error;
  }
}
