import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliError } from '../cli-error.ts';
import { loadCliConfig } from '../cli-env.ts';
import { parseCommandLine } from '../command-line.ts';
import { UsageError } from '../usage-error.ts';
import { parseBatchInput, type BatchLine, type BatchRequestLine } from './batch/batch-input.ts';
import { BatchOutputFile } from './batch/batch-output.ts';
import { BatchProgress } from './batch/batch-progress.ts';
import { BatchRun } from './batch/batch-run.ts';
import { removeBatchState, statePathFor } from './batch/batch-state-file.ts';
import { GatewayHttp } from './batch/gateway-http.ts';
import { InterruptWatch } from './batch/interrupt.ts';
import { runViaBatchApi } from './batch/via-batch-api.ts';
import { resumePoint } from './batch/resume-point.ts';
import { runViaCompletions } from './batch/via-completions.ts';

/** Exit status after Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2). */
const EXIT_INTERRUPTED = 130;

const BATCH_USAGE = `usage: dfleet batch IN.jsonl -o OUT.jsonl [options]

Runs every line of IN.jsonl through a running gateway and appends one result line per input
line to OUT.jsonl as lines finish. A line is OpenAI's batch form
  {"custom_id": "...", "method": "POST", "url": "/v1/completions" | "/v1/chat/completions", "body": {...}}
or a plain completions body {"prompt": "...", ...} (custom_id optional). Results are OpenAI's batch
output lines {"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}; a
line failed when its error is not null. A line without a custom_id is named by a hash of its text.

Rerunning the same command skips the lines OUT.jsonl already has and sends the rest.
Ctrl-C stops sending and waits for the lines in flight; a second Ctrl-C exits at once.

  -o, --output FILE       where results are appended (required)
  --errors FILE           put failed lines here instead of in OUT (OpenAI keeps them apart)
  --via MODE              completions (default): each line POSTed to its endpoint, --concurrency
                          at a time; batch-api: uploaded with /v1/files and run as /v1/batches
  --concurrency N         lines in flight at once with --via completions (default 8)
  --retries N             retries of a line answered 429, 500, 503 or 504, or when the gateway
                          cannot be reached (default 5; same Idempotency-Key, so never decoded twice)
  --cancel-on-interrupt   with --via batch-api: Ctrl-C cancels the batch (default: it keeps running
                          on the fleet, and a rerun re-attaches to it)
  --poll-interval S       with --via batch-api: seconds between reads of the batch (default 2)
  --url URL               gateway to call (default: DFLEET_URL, else http://127.0.0.1:$DFLEET_PORT)
  --model NAME            model for lines that name none (default: the one the gateway serves)
  -h, --help              print this and exit

The API key, if the gateway wants one, comes from DFLEET_API_KEY. Exit status: 0 when every line
has a result line (failed ones included), 1 when some have none (say why; a rerun sends them),
130 after Ctrl-C.
`;

const spec = {
  usage: BATCH_USAGE,
  allowPositionals: true,
  options: {
    output: { type: 'string', short: 'o' },
    errors: { type: 'string' },
    via: { type: 'string' },
    concurrency: { type: 'string' },
    retries: { type: 'string' },
    'cancel-on-interrupt': { type: 'boolean' },
    'poll-interval': { type: 'string' },
    url: { type: 'string' },
    model: { type: 'string' },
  },
} as const;

const MODES = ['completions', 'batch-api'] as const;

/** `dfleet batch IN -o OUT`: every line of a JSONL file through the gateway, resumable. */
export async function runBatch(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const parsed = parseCommandLine(spec, args);
  if (!parsed) return;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError('batch needs exactly one input file (IN.jsonl)');
  const inputPath = positionals[0] as string;
  const outputPath = values.output;
  if (outputPath === undefined) throw new UsageError('-o OUT.jsonl is required: the file results are appended to');
  if (values.errors !== undefined && resolve(values.errors) === resolve(outputPath)) {
    throw new UsageError('--errors must name another file than -o (leave it out to keep failed lines in OUT)');
  }
  const via = values.via ?? 'completions';
  if (!(MODES as readonly string[]).includes(via)) {
    throw new UsageError(`--via must be one of ${MODES.join(', ')}; got "${via}"`);
  }
  const concurrency = integerFlag('concurrency', values.concurrency, 8, 1);
  const retries = integerFlag('retries', values.retries, 5, 0);
  const pollSeconds = Number(values['poll-interval'] ?? '2');
  if (!(pollSeconds > 0))
    throw new UsageError(`--poll-interval must be a number of seconds above 0; got "${values['poll-interval']}"`);
  const config = loadCliConfig(env);

  const lines = parseBatchInput(readInput(inputPath), inputPath);
  const { pending, earlier: earlierCounts } = resumePoint(lines, [
    outputPath,
    ...(values.errors ? [values.errors] : []),
  ]);
  if (pending.length === 0) {
    // A state file left by a run that collected everything but died before removing it names nothing to do.
    removeBatchState(statePathFor(outputPath));
    process.stderr.write(
      `batch: all ${lines.length} lines of ${inputPath} have a result in ${outputPath}; nothing to send\n`,
    );
    return;
  }
  if (pending.length < lines.length) {
    process.stderr.write(
      `batch: resuming: ${lines.length - pending.length} of ${lines.length} lines already have a result\n`,
    );
  }

  const http = new GatewayHttp(values.url ?? config.gatewayUrl, config.apiKey);
  const requests = pending.filter((line): line is BatchRequestLine => line.kind === 'request');
  // Asked before anything is sent or written, so an unreachable gateway or a refused key stops the run at once.
  const served = await servedModel(http);
  const model = values.model ?? served;

  const sinks = {
    output: BatchOutputFile.open(outputPath),
    errors: values.errors === undefined ? undefined : BatchOutputFile.open(values.errors),
  };
  const progress = new BatchProgress(lines.length, { ...earlierCounts, tokens: 0 });
  const startedAt = Date.now();
  let run: BatchRun | undefined;
  const summary = (): string => summarize(lines, run, Date.now() - startedAt);
  const interrupt = new InterruptWatch(
    () => progress.note(firstInterruptNote(via, run?.inFlight ?? 0, values['cancel-on-interrupt'] === true)),
    () => {
      progress.stop();
      process.stderr.write(
        `dfleet: interrupted at once: ${summary()}. Lines in flight still finish on the fleet; ` +
          'rerun the same command to collect them (no line is decoded twice) and send the rest\n',
      );
      process.exit(EXIT_INTERRUPTED);
    },
  );
  run = new BatchRun(http, interrupt, progress, sinks, model, earlierCounts);
  progress.start();
  try {
    for (const line of pending) if (line.kind === 'bad') run.recordBad(line);
    if (via === 'completions') {
      await runViaCompletions(run, requests, { concurrency, retries });
    } else {
      await runViaBatchApi(run, requests, {
        input: resolve(inputPath),
        statePath: statePathFor(outputPath),
        pollIntervalMs: pollSeconds * 1000,
        cancelOnInterrupt: values['cancel-on-interrupt'] === true,
        retries,
      });
    }
  } catch (error) {
    if (error instanceof CliError) {
      throw new CliError(error.code, `${error.message}\n${summary()}; rerun the same command to send the rest`);
    }
    throw error;
  } finally {
    progress.stop();
    interrupt.dispose();
    sinks.output.close();
    sinks.errors?.close();
  }
  if (interrupt.interrupted) {
    const how = via === 'batch-api' ? 'rerun the same command to re-attach' : 'rerun the same command to send the rest';
    throw new CliError('interrupted', `interrupted: ${summary()}; ${how}`, EXIT_INTERRUPTED);
  }
  process.stderr.write(`batch: ${summary()}\n`);
  if (run.left.size > 0) {
    const [[id, reason] = ['', '']] = run.left;
    throw new CliError(
      'lines_left',
      `${run.left.size} lines have no result (e.g. ${id}: ${reason}); rerun the same command to send them`,
    );
  }
}

function readInput(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError('input_unreadable', `cannot read ${path}: ${(error as Error).message}`);
  }
}

async function servedModel(http: GatewayHttp): Promise<string> {
  const models = (await http.expectOk('GET', '/v1/models')).body as { data?: { id?: string }[] };
  const id = models.data?.[0]?.id;
  if (typeof id !== 'string') throw new CliError('no_model', `${http.baseUrl}/v1/models names no model; pass --model`);
  return id;
}

function integerFlag(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new UsageError(`--${name} must be an integer of at least ${min}; got "${raw}"`);
  return value;
}

function firstInterruptNote(via: string, inFlight: number, cancel: boolean): string {
  if (via === 'completions') {
    return `stopping: no new lines are sent; waiting for the ${inFlight} in flight (Ctrl-C again to exit at once)`;
  }
  return cancel
    ? 'stopping: cancelling the batch (Ctrl-C again to exit at once)'
    : 'stopping: the batch keeps running on the fleet; a rerun of the same command re-attaches to it';
}

function summarize(lines: readonly BatchLine[], run: BatchRun | undefined, elapsedMs: number): string {
  const done = run?.done ?? 0;
  const failed = run?.failed ?? 0;
  const seconds = elapsedMs / 1000;
  const tokens = run?.tokens ?? 0;
  return (
    `${lines.length} lines: ${done} done, ${failed} failed, ${lines.length - done - failed} without a result; ` +
    `${tokens} answer tokens in ${seconds.toFixed(1)} s (${seconds > 0 ? (tokens / seconds).toFixed(1) : '0'} tok/s)`
  );
}
