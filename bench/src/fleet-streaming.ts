/**
 * The streaming phase of `bench:fleet`: the same held-out prompts sent through the running fleet
 * with `stream: true` and without, one request at a time (closed loop, so what is measured is a
 * request's latency, not a queue), alternating which of the two goes first for each prompt.
 *
 * For each request: the time to the first streamed token (the first chunk whose text is not
 * empty), to the chunk carrying the finish reason, and, without streaming, to the whole answer.
 * The job's own figures (queue_ms, decode_ms, nfe) are read back from GET /v1/jobs/:id for the
 * streamed requests and from the answer for the others.
 *
 * Target: the first token within one forward pass of the decode's start. A forward pass is the
 * job's decode_ms / nfe; the decode starts queue_ms after the gateway accepted the request, so
 * the first token's distance from the decode's start is first-token latency minus queue_ms. The
 * first step's own pass is in that distance, and so is what the fleet adds to any message (HTTP,
 * callback, SSE write), which this run measures too: non-streamed latency minus decode_ms minus
 * queue_ms. The target is met when first token - queue_ms <= one forward pass + that overhead
 * (p50s). Each decoding is measured on its own: threshold commits most of these short answers in
 * its first steps, reference commits one position per step in confidence order, so its first
 * token waits for position 0.
 *
 * A third request per prompt streams with `dfleet.stream_states`, as the playground does, and
 * splits the first token's latency in two: the decoding rule's part (the step whose state first
 * has a final prefix, and its decode_ms) and the plumbing's part (worker step report, callback,
 * SSE write: first token - queue_ms - that decode_ms).
 */
import http from 'node:http';
import { percentile } from './percentiles.ts';

export interface StreamingComparisonOptions {
  httpUrl: string;
  model: string;
  prompts: readonly string[];
  /** Each decoding is one comparison: the `dfleet` object of the requests. */
  decodings: readonly Record<string, unknown>[];
  /** Sent as `max_tokens`; absent = the model's default answer length. */
  maxTokens?: number;
  /** Requests of each kind sent first and not counted (sessions, JIT). @defaultValue 3 */
  warmUp?: number;
}

interface JobFigures {
  queueMs: number;
  decodeMs: number;
  nfe: number;
  steps: number;
}

interface NonStreamedSample extends JobFigures {
  finalMs: number;
  text: string;
}

interface StreamedSample extends JobFigures {
  firstTokenMs: number;
  finalMs: number;
  text: string;
  chunks: number;
  /** With canvas states: the step whose state first had a final prefix, and its decode_ms. */
  firstFinalStep: number | null;
  firstFinalDecodeMs: number | null;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

interface Exchange {
  status: number;
  body: string;
  /** ms after the request was sent at which each body chunk arrived, with its text. */
  arrivals: { atMs: number; text: string }[];
}

function send(url: string, method: 'GET' | 'POST', payload?: string): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const headers: Record<string, string | number> = {};
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const request = http.request(url, { method, agent, headers }, (response) => {
      const arrivals: Exchange['arrivals'] = [];
      response.setEncoding('utf8');
      response.on('data', (text: string) => arrivals.push({ atMs: performance.now() - started, text }));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: arrivals.map((a) => a.text).join(''), arrivals }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(payload);
  });
}

class RequestFailed extends Error {}

function failed(what: string, exchange: Exchange): RequestFailed {
  return new RequestFailed(`${what}: HTTP ${exchange.status}: ${exchange.body.slice(0, 300)}`);
}

interface CompletionBody {
  id: string;
  choices: { text: string; finish_reason: string | null }[];
  usage: { steps: number; nfe: number };
  dfleet: { queue_ms: number; decode_ms: number };
}

function figuresOf(body: CompletionBody): JobFigures {
  return {
    queueMs: body.dfleet.queue_ms,
    decodeMs: body.dfleet.decode_ms,
    nfe: body.usage.nfe,
    steps: body.usage.steps,
  };
}

async function nonStreamed(options: StreamingComparisonOptions, body: object): Promise<NonStreamedSample> {
  const exchange = await send(`${options.httpUrl}/v1/completions`, 'POST', JSON.stringify(body));
  if (exchange.status !== 200) throw failed('non-streamed completion', exchange);
  const answer = JSON.parse(exchange.body) as CompletionBody;
  return {
    finalMs: exchange.arrivals.at(-1)?.atMs ?? Number.NaN,
    text: answer.choices[0]?.text ?? '',
    ...figuresOf(answer),
  };
}

/** The `data:` payloads of a server-sent event stream, each with its event name and the time its chunk arrived. */
function dataEvents(arrivals: Exchange['arrivals']): { atMs: number; event: string; data: string }[] {
  const events: { atMs: number; event: string; data: string }[] = [];
  let buffer = '';
  for (const { atMs, text } of arrivals) {
    buffer += text;
    const blocks = buffer.split(/\r?\n\r?\n/);
    buffer = blocks.pop() ?? '';
    for (const block of blocks) {
      const lines = block.split(/\r?\n/);
      const data = lines
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      const event =
        lines
          .find((line) => line.startsWith('event:'))
          ?.slice(6)
          .trim() ?? 'message';
      if (data !== '') events.push({ atMs, event, data });
    }
  }
  return events;
}

async function streamed(
  options: StreamingComparisonOptions,
  body: { dfleet: Record<string, unknown> },
  states: boolean,
): Promise<StreamedSample> {
  const payload = { ...body, stream: true, dfleet: { ...body.dfleet, ...(states ? { stream_states: true } : {}) } };
  const exchange = await send(`${options.httpUrl}/v1/completions`, 'POST', JSON.stringify(payload));
  if (exchange.status !== 200) throw failed('streamed completion', exchange);
  let firstTokenMs = Number.NaN;
  let finalMs = Number.NaN;
  let text = '';
  let jobId: string | undefined;
  let chunks = 0;
  let firstFinalStep: number | null = null;
  let firstFinalDecodeMs: number | null = null;
  for (const { atMs, event, data } of dataEvents(exchange.arrivals)) {
    if (data === '[DONE]') break;
    if (event === 'dfleet.canvas_state') {
      const state = JSON.parse(data) as { step: number; final_prefix: number; decode_ms: number };
      if (firstFinalStep === null && state.final_prefix > 0) {
        firstFinalStep = state.step;
        firstFinalDecodeMs = state.decode_ms;
      }
      continue;
    }
    const chunk = JSON.parse(data) as Partial<CompletionBody> & { error?: { message: string } };
    if (chunk.error) throw new RequestFailed(`streamed completion: error event: ${chunk.error.message}`);
    jobId ??= chunk.id;
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    chunks += 1;
    if (choice.text !== '' && Number.isNaN(firstTokenMs)) firstTokenMs = atMs;
    text += choice.text;
    if (choice.finish_reason) finalMs = atMs;
  }
  if (jobId === undefined) throw failed('streamed completion without a chunk', exchange);
  const job = await send(`${options.httpUrl}/v1/jobs/${encodeURIComponent(jobId)}`, 'GET');
  if (job.status !== 200) throw failed(`GET /v1/jobs/${jobId}`, job);
  const { result } = JSON.parse(job.body) as { result: CompletionBody | null };
  if (result === null) throw failed(`job ${jobId} has no result after its stream ended`, job);
  // An empty answer has no first token: it counts as arriving with the end.
  return {
    firstTokenMs: Number.isNaN(firstTokenMs) ? finalMs : firstTokenMs,
    finalMs,
    text,
    chunks,
    firstFinalStep,
    firstFinalDecodeMs,
    ...figuresOf(result),
  };
}

const p50 = (values: readonly number[]) => percentile([...values], 50);
const p99 = (values: readonly number[]) => percentile([...values], 99);

interface PromptSamples {
  s: StreamedSample;
  n: NonStreamedSample;
  /** Streamed with dfleet.stream_states, as the playground asks. */
  withStates: StreamedSample;
}

function summarize(decoding: Record<string, unknown>, pairs: PromptSamples[]) {
  const s = pairs.map((pair) => pair.s);
  const n = pairs.map((pair) => pair.n);
  const w = pairs.map((pair) => pair.withStates).filter((sample) => sample.firstFinalDecodeMs !== null);
  // From the end of the step that made the first token final to the client reading it.
  const delivery = w.map((sample) => sample.firstTokenMs - sample.queueMs - (sample.firstFinalDecodeMs as number));
  const forwardPass = [...s, ...n].map((sample) => sample.decodeMs / sample.nfe);
  const fromDecodeStart = s.map((sample) => sample.firstTokenMs - sample.queueMs);
  // What the fleet adds to a message besides the decode and the wait for a worker.
  const overhead = n.map((sample) => sample.finalMs - sample.decodeMs - sample.queueMs);
  const forwardPassP50 = p50(forwardPass);
  const overheadP50 = p50(overhead);
  const fromDecodeStartP50 = p50(fromDecodeStart);
  return {
    decoding,
    requests: pairs.length,
    same_text: pairs.filter((pair) => pair.s.text === pair.n.text).length,
    steps_p50: p50(s.map((sample) => sample.steps)),
    chunks_p50: p50(s.map((sample) => sample.chunks)),
    first_token_p50_ms: p50(s.map((sample) => sample.firstTokenMs)),
    first_token_p99_ms: p99(s.map((sample) => sample.firstTokenMs)),
    streamed_final_p50_ms: p50(s.map((sample) => sample.finalMs)),
    streamed_final_p99_ms: p99(s.map((sample) => sample.finalMs)),
    non_streamed_final_p50_ms: p50(n.map((sample) => sample.finalMs)),
    non_streamed_final_p99_ms: p99(n.map((sample) => sample.finalMs)),
    /** < 1: the first token arrives before a non-streamed answer would. */
    first_token_vs_non_streamed_final: p50(s.map((sample) => sample.firstTokenMs)) / p50(n.map((x) => x.finalMs)),
    /** What streaming costs the whole answer (> 1: slower). */
    streamed_final_vs_non_streamed_final: p50(s.map((sample) => sample.finalMs)) / p50(n.map((x) => x.finalMs)),
    queue_p50_ms: p50(s.map((sample) => sample.queueMs)),
    decode_p50_ms: p50(s.map((sample) => sample.decodeMs)),
    forward_pass_p50_ms: forwardPassP50,
    fleet_overhead_p50_ms: overheadP50,
    first_token_from_decode_start_p50_ms: fromDecodeStartP50,
    first_token_from_decode_start_p99_ms: p99(fromDecodeStart),
    first_token_from_decode_start_in_passes_p50: p50(
      s.map((sample, i) => fromDecodeStart[i]! / (sample.decodeMs / sample.nfe)),
    ),
    /** The decoding rule's part: the step whose forward pass made answer position 0 final. */
    first_final_step_p50: p50(w.map((sample) => sample.firstFinalStep as number)),
    /** The plumbing's part (worker step report, callback, SSE): after that step, until the client has the token. */
    first_token_delivery_p50_ms: p50(delivery),
    first_token_delivery_p99_ms: p99(delivery),
    with_states_first_token_p50_ms: p50(w.map((sample) => sample.firstTokenMs)),
    with_states_final_p50_ms: p50(w.map((sample) => sample.finalMs)),
    target_met: fromDecodeStartP50 <= forwardPassP50 + overheadP50,
  };
}

export type StreamingComparison = ReturnType<typeof summarize>;

/** Streams and does not stream each prompt with each decoding, one request at a time. */
export async function compareStreaming(options: StreamingComparisonOptions): Promise<StreamingComparison[]> {
  const warmUp = options.warmUp ?? 3;
  const comparisons: StreamingComparison[] = [];
  try {
    for (const decoding of options.decodings) {
      const bodyFor = (prompt: string): { model: string; prompt: string; dfleet: Record<string, unknown> } => ({
        model: options.model,
        prompt,
        ...(options.maxTokens === undefined ? {} : { max_tokens: options.maxTokens }),
        dfleet: decoding,
      });
      for (const prompt of options.prompts.slice(0, warmUp)) {
        await streamed(options, bodyFor(prompt), false);
        await streamed(options, bodyFor(prompt), true);
        await nonStreamed(options, bodyFor(prompt));
      }
      const pairs: PromptSamples[] = [];
      for (const [i, prompt] of options.prompts.entries()) {
        // Alternating the order keeps a warm-after-the-first effect out of the ratio.
        if (i % 2 === 0) {
          const s = await streamed(options, bodyFor(prompt), false);
          const n = await nonStreamed(options, bodyFor(prompt));
          pairs.push({ s, n, withStates: await streamed(options, bodyFor(prompt), true) });
        } else {
          const withStates = await streamed(options, bodyFor(prompt), true);
          const n = await nonStreamed(options, bodyFor(prompt));
          pairs.push({ s: await streamed(options, bodyFor(prompt), false), n, withStates });
        }
      }
      comparisons.push(summarize(decoding, pairs));
    }
  } finally {
    agent.destroy();
  }
  return comparisons;
}

const fmt = (n: number) => n.toFixed(2);

/** The comparison's lines of the bench's table. */
export function formatStreamingComparison(comparison: StreamingComparison): string {
  const c = comparison;
  return (
    `streaming vs not, ${JSON.stringify(c.decoding)}, ${c.requests} prompts one at a time (${c.same_text} same text, ` +
    `steps p50 ${c.steps_p50}, chunks p50 ${c.chunks_p50}):\n` +
    `  first streamed token p50 ${fmt(c.first_token_p50_ms)} ms p99 ${fmt(c.first_token_p99_ms)} ms; ` +
    `final answer streamed p50 ${fmt(c.streamed_final_p50_ms)} ms p99 ${fmt(c.streamed_final_p99_ms)} ms, ` +
    `not streamed p50 ${fmt(c.non_streamed_final_p50_ms)} ms p99 ${fmt(c.non_streamed_final_p99_ms)} ms\n` +
    `  first token / non-streamed answer ${fmt(c.first_token_vs_non_streamed_final)}x, ` +
    `streamed / non-streamed answer ${fmt(c.streamed_final_vs_non_streamed_final)}x\n` +
    `  first token - queue p50 ${fmt(c.first_token_from_decode_start_p50_ms)} ms p99 ${fmt(c.first_token_from_decode_start_p99_ms)} ms ` +
    `(${fmt(c.first_token_from_decode_start_in_passes_p50)} forward passes) against one forward pass ${fmt(c.forward_pass_p50_ms)} ms ` +
    `+ fleet overhead ${fmt(c.fleet_overhead_p50_ms)} ms (queue p50 ${fmt(c.queue_p50_ms)} ms): target ${c.target_met ? 'met' : 'NOT met'}\n` +
    `  with canvas states: position 0 final after step ${c.first_final_step_p50} (p50), then delivered in ` +
    `${fmt(c.first_token_delivery_p50_ms)} ms p50 ${fmt(c.first_token_delivery_p99_ms)} ms p99; ` +
    `first token p50 ${fmt(c.with_states_first_token_p50_ms)} ms, final ${fmt(c.with_states_final_p50_ms)} ms`
  );
}
