/**
 * `npm run bench:decode [-- --quick] [--tasks N] [--model DIR] [--strategies NAME,...] [--inference-thread main]`
 * `npm run bench:decode -- --max-tokens 16,32,48,64,128,256 [--tasks N]`: the max_tokens (answer cap) sweep instead
 * `npm run bench:decode -- --prefix-cache [--tasks N] [--block-lengths 48,16]`: without and with the prefix
 *   cache instead (decode-prefix-cache.ts; bench/results/decode-prefix-cache.json)
 *
 * With `--max-tokens`, decodes the held-out tasks with the default strategy on the model's default
 * canvas, once without a cap and once per cap, and reports pass@1 per cap side by side, with how
 * many answers are exactly the uncapped answer cut to the cap; writes bench/results/decode-max-tokens.json.
 *
 * Decodes the held-out tasks with every strategy (and a sweep of its knob) on the real model, in
 * one run, one job at a time through the serving denoiser, and runs each completion as untrusted
 * code. Prints a table with ratios against `reference` with steps = generation length, and writes
 * bench/results/decode.json (+ decode.svg: pass@1 against NFE per token; `npm run bench:decode:plot`
 * redraws it from the JSON).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decode, DEFAULT_STRATEGY, STRATEGY_CONTRACT, type DecodingStrategy } from '@dfleet/decoder';
import { loadEvalTasks, passAtOne, programFromCompletion, runUntrusted, type EvalTask } from '@dfleet/eval';
import { DEFAULT_MODEL_DIR, loadModel, type OnnxDenoiserOutput } from '@dfleet/model';
import { decodePlotSvg } from './decode-plot.ts';
import { comparePrefixCache } from './decode-prefix-cache.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    tasks: { type: 'string' },
    /** Comma-separated strategy names to measure; the baseline (reference, steps = L) always runs. */
    strategies: { type: 'string' },
    'inference-thread': { type: 'string', default: 'worker' },
    /** Comma-separated answer caps (OpenAI's max_tokens): run the cap sweep instead of the strategies. */
    'max-tokens': { type: 'string' },
    /** Without and with the prefix cache, per block length: the comparison instead of the strategies. */
    'prefix-cache': { type: 'boolean', default: false },
    'block-lengths': { type: 'string' },
    model: { type: 'string', default: DEFAULT_MODEL_DIR },
    out: { type: 'string', default: fileURLToPath(new URL('../results', import.meta.url)) },
  },
});

interface StrategyRun {
  name: string;
  knobs: Record<string, number | string>;
  strategy: DecodingStrategy;
}

interface StrategyMeasurement extends StrategyRun {
  tasks: number;
  pass_at_1: number;
  mean_nfe: number;
  generated_tokens: number;
  nfe_per_token: number;
  tokens_per_s: number;
  decode_wall_ms: number;
  session_run_ms: number;
  outside_run_fraction: number;
}

const inferenceThread = values['inference-thread'] === 'main' ? 'main' : 'worker';
const model = await loadModel(values.model!, { inferenceThread });
const generationLength = model.manifest.defaults?.maxNewTokens ?? 48;
const taskLimit = values.tasks ? Number(values.tasks) : values.quick ? 50 : 500;
const tasks = (await loadEvalTasks(`${values.model}/eval/heldout.jsonl`)).slice(0, taskLimit);

const allRuns: StrategyRun[] = [
  { name: 'reference', knobs: { steps: generationLength }, strategy: { name: 'reference', steps: generationLength } },
  {
    name: 'reference',
    knobs: { steps: generationLength / 2 },
    strategy: { name: 'reference', steps: generationLength / 2 },
  },
  ...[0.5, 0.7, 0.8, 0.9, 0.95].map(
    (threshold): StrategyRun => ({
      name: 'threshold',
      knobs: { threshold },
      strategy: { name: 'threshold', threshold },
    }),
  ),
  ...[0.25, 0.5, 1, 2].map(
    (factor): StrategyRun => ({ name: 'factor', knobs: { factor }, strategy: { name: 'factor', factor } }),
  ),
  ...[0.01, 0.1, 0.5, 1].map(
    (gamma): StrategyRun => ({
      name: 'entropy-bounded',
      knobs: { gamma },
      strategy: { name: 'entropy-bounded', gamma },
    }),
  ),
];
const selected = values.strategies?.split(',').map((name) => name.trim());
const runs = allRuns.filter((run, i) => i === 0 || selected === undefined || selected.includes(run.name));

/** Each task's answer tokens, in task order, beside the measurement. */
type Measured = StrategyMeasurement & { readonly answers: number[][] };

async function measure(run: StrategyRun, evalTasks: EvalTask[], maxAnswerTokens?: number): Promise<Measured> {
  let nfe = 0;
  let generatedTokens = 0;
  let sessionRunMs = 0;
  let wallMs = 0;
  const completions: string[] = [];
  const answers: number[][] = [];
  // Count only this run's forward passes: the denoiser reports each pass's time inside session.run.
  const timedDenoiser = {
    vocabSize: model.denoiser.vocabSize,
    outputForm: model.denoiser.outputForm,
    async denoise(batch: Parameters<typeof model.denoiser.denoise>[0]): Promise<OnnxDenoiserOutput> {
      const output = await model.denoiser.denoise(batch);
      sessionRunMs += output.sessionRunMs;
      return output;
    },
  };
  for (const task of evalTasks) {
    const started = performance.now();
    const result = await decode(timedDenoiser, {
      promptIds: model.tokenizer.encode(task.prompt),
      maxNewTokens: generationLength,
      blockLength: generationLength,
      strategy: run.strategy,
      specialTokens: model.manifest.specialTokens,
      ...(maxAnswerTokens === undefined ? {} : { maxAnswerTokens }),
    });
    answers.push(result.tokenIds);
    const completion = model.tokenizer.decode(result.tokenIds);
    wallMs += performance.now() - started;
    nfe += result.nfe;
    // An answer that is only eos still cost its passes; count at least one token so ratios stay finite.
    generatedTokens += Math.max(1, result.tokenIds.length);
    completions.push(completion);
  }
  const verdicts = await runUntrusted(evalTasks.map((task, i) => programFromCompletion(task, completions[i]!)));
  return {
    ...run,
    tasks: evalTasks.length,
    pass_at_1: passAtOne(verdicts),
    mean_nfe: nfe / evalTasks.length,
    generated_tokens: generatedTokens,
    nfe_per_token: nfe / generatedTokens,
    tokens_per_s: generatedTokens / (wallMs / 1000),
    decode_wall_ms: wallMs,
    session_run_ms: sessionRunMs,
    outside_run_fraction: 1 - sessionRunMs / wallMs,
    answers,
  };
}

const knobText = (m: StrategyRun) =>
  Object.entries(m.knobs)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

const caps = values['max-tokens']?.split(',').map((cap) => Number(cap.trim()));
if (values['prefix-cache']) {
  await model.close();
  mkdirSync(values.out!, { recursive: true });
  await comparePrefixCache({
    modelDir: values.model!,
    tasks,
    blockLengths: (values['block-lengths'] ?? `${generationLength},16`).split(',').map(Number),
    inferenceThread,
    out: values.out!,
  });
} else if (caps === undefined) await strategySweep();
else await maxTokensSweep(caps);

async function strategySweep(): Promise<void> {
  // One untimed pass so the first measured strategy does not pay for session warm-up.
  await measure(runs[runs.length - 1]!, tasks.slice(0, 3));

  // Time outside session.run includes two thread wake-ups per forward pass, which wait for a free
  // CPU, so it grows with the machine's load: record the load averages (1, 5, 15 min) with it.
  const loadAtStart = loadavg();

  const measurements: Measured[] = [];
  for (const run of runs) {
    process.stderr.write(`decoding ${tasks.length} tasks with ${run.name} ${knobText(run)}...\n`);
    measurements.push(await measure(run, tasks));
  }
  const loadAtEnd = loadavg();
  await model.close();

  const reference = measurements[0]!;
  const dynamic = measurements.filter((m) => m.name !== 'reference');
  // The fastest dynamic setting that keeps pass@1 within one point of the reference; if none does, the most accurate one.
  const withinOnePoint = dynamic.filter((m) => m.pass_at_1 >= reference.pass_at_1 - 0.01);
  const bestDynamic = withinOnePoint.length
    ? withinOnePoint.reduce((a, b) => (b.nfe_per_token < a.nfe_per_token ? b : a))
    : dynamic.reduce((a, b) => (b.pass_at_1 > a.pass_at_1 ? b : a));

  const header = [
    'strategy',
    'knobs',
    'pass@1',
    'mean NFE',
    'NFE/token',
    'tokens/s',
    'NFE ratio',
    'speedup',
    'outside run',
  ];
  const rows = measurements.map((m) => [
    m.name,
    knobText(m),
    `${(m.pass_at_1 * 100).toFixed(1)}%`,
    m.mean_nfe.toFixed(2),
    m.nfe_per_token.toFixed(3),
    m.tokens_per_s.toFixed(1),
    `${(reference.nfe_per_token / m.nfe_per_token).toFixed(2)}x`,
    `${(m.tokens_per_s / reference.tokens_per_s).toFixed(2)}x`,
    `${(m.outside_run_fraction * 100).toFixed(1)}%`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(
    `model ${model.manifest.name}, ${tasks.length} held-out tasks, generation length ${generationLength}, one job at a time`,
  );
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(row));

  const totalWall = measurements.reduce((sum, m) => sum + m.decode_wall_ms, 0);
  const totalRun = measurements.reduce((sum, m) => sum + m.session_run_ms, 0);
  const summary = {
    reference: {
      name: reference.name,
      knobs: reference.knobs,
      pass_at_1: reference.pass_at_1,
      nfe_per_token: reference.nfe_per_token,
      tokens_per_s: reference.tokens_per_s,
    },
    best_dynamic: {
      name: bestDynamic.name,
      knobs: bestDynamic.knobs,
      pass_at_1: bestDynamic.pass_at_1,
      nfe_per_token: bestDynamic.nfe_per_token,
      tokens_per_s: bestDynamic.tokens_per_s,
      within_one_point_of_reference: withinOnePoint.includes(bestDynamic),
    },
    nfe_ratio: reference.nfe_per_token / bestDynamic.nfe_per_token,
    speedup: bestDynamic.tokens_per_s / reference.tokens_per_s,
    outside_run_fraction: 1 - totalRun / totalWall,
  };
  console.log(
    `\nbest dynamic: ${bestDynamic.name} ${knobText(bestDynamic)}: pass@1 ${(bestDynamic.pass_at_1 * 100).toFixed(1)}% vs ${(reference.pass_at_1 * 100).toFixed(1)}%, ` +
      `${summary.nfe_ratio.toFixed(2)}x fewer NFE per token, ${summary.speedup.toFixed(2)}x tokens/s; ` +
      `time outside session.run ${(summary.outside_run_fraction * 100).toFixed(1)}% of decode wall time`,
  );
  const loadText = (load: number[]) => load.map((l) => l.toFixed(2)).join(' ');
  console.log(
    `load average (1, 5, 15 min) on ${availableParallelism()} CPUs: ${loadText(loadAtStart)} at start, ${loadText(loadAtEnd)} at end`,
  );

  mkdirSync(values.out!, { recursive: true });
  const results = {
    model: model.manifest.name,
    tasks: tasks.length,
    generation_length: generationLength,
    measured_at: new Date().toISOString(),
    machine: { cpus: availableParallelism(), load_average_at_start: loadAtStart, load_average_at_end: loadAtEnd },
    summary,
    strategies: measurements.map(({ answers: _answers, ...measurement }) => measurement),
  };
  writeFileSync(`${values.out}/decode.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${values.out}/decode.svg`, `${decodePlotSvg(results)}\n`);
  console.log(`wrote ${values.out}/decode.json and decode.svg`);
}

/**
 * The max_tokens sweep. The cap cuts the answer and changes nothing else, so every capped answer
 * must be the uncapped one cut to the cap, and pass@1 cannot depend on the cap once the cap holds
 * the whole canvas (every answer fits). Below it, answers are cut short and pass@1 falls.
 */
async function maxTokensSweep(caps: number[]): Promise<void> {
  for (const cap of caps) {
    if (!Number.isInteger(cap) || cap < 1)
      throw new Error(`--max-tokens: every cap must be an integer >= 1, got ${cap}`);
  }
  const knobs = Object.fromEntries(
    Object.entries(STRATEGY_CONTRACT[DEFAULT_STRATEGY].knobs).flatMap(([key, knob]) =>
      knob.default === undefined ? [] : [[key, knob.default]],
    ),
  );
  const run: StrategyRun = { name: DEFAULT_STRATEGY, knobs, strategy: { name: DEFAULT_STRATEGY } };
  await measure(run, tasks.slice(0, 3));
  const loadAtStart = loadavg();
  process.stderr.write(`decoding ${tasks.length} tasks with ${run.name} ${knobText(run)}, no cap...\n`);
  const uncapped = await measure(run, tasks);
  const rows: (Omit<StrategyMeasurement, 'knobs' | 'strategy' | 'name'> & {
    max_tokens: number | null;
    same_as_uncapped_cut: number;
    longer_than_cap: number;
  })[] = [];
  const row = (cap: number | null, m: Measured, longerThanCap: number) => {
    const { answers, knobs: _knobs, strategy: _strategy, name: _name, ...figures } = m;
    const same = answers.filter(
      (answer, i) => JSON.stringify(answer) === JSON.stringify(uncapped.answers[i]!.slice(0, cap ?? undefined)),
    ).length;
    rows.push({ max_tokens: cap, ...figures, same_as_uncapped_cut: same, longer_than_cap: longerThanCap });
  };
  row(null, uncapped, 0);
  for (const cap of caps) {
    process.stderr.write(`decoding ${tasks.length} tasks with max_tokens ${cap}...\n`);
    const capped = await measure(run, tasks, cap);
    row(cap, capped, uncapped.answers.filter((answer) => answer.length > cap).length);
  }
  const loadAtEnd = loadavg();
  await model.close();

  const header = ['max_tokens', 'pass@1', 'mean NFE', 'tokens', 'same as uncapped, cut', 'uncapped longer'];
  const cells = rows.map((r) => [
    r.max_tokens === null ? 'none' : String(r.max_tokens),
    `${(r.pass_at_1 * 100).toFixed(1)}%`,
    r.mean_nfe.toFixed(2),
    String(r.generated_tokens),
    `${r.same_as_uncapped_cut}/${r.tasks}`,
    String(r.longer_than_cap),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: string[]) => values.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(
    `model ${model.manifest.name}, ${tasks.length} held-out tasks, canvas ${generationLength}, ${run.name} ${knobText(run)}, one job at a time`,
  );
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const c of cells) console.log(line(c));

  mkdirSync(values.out!, { recursive: true });
  const results = {
    model: model.manifest.name,
    tasks: tasks.length,
    generation_length: generationLength,
    strategy: { name: run.name, knobs: run.knobs },
    measured_at: new Date().toISOString(),
    machine: { cpus: availableParallelism(), load_average_at_start: loadAtStart, load_average_at_end: loadAtEnd },
    caps: rows,
  };
  writeFileSync(`${values.out}/decode-max-tokens.json`, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${values.out}/decode-max-tokens.json`);
}
