// The playground: builds its form from the gateway's own lists (models, strategy contract), streams
// one completion with dfleet.stream_states and draws every canvas state it receives. No framework,
// no build step: the gateway serves this file as it is.

const $ = (id) => document.getElementById(id);

const form = {
  prompt: $('prompt'),
  model: $('model'),
  strategy: $('strategy'),
  strategyDescription: $('strategy-description'),
  knobs: $('knobs'),
  maxTokens: $('max-tokens'),
  genLength: $('gen-length'),
  temperature: $('temperature'),
  seed: $('seed'),
  apiKey: $('api-key'),
  generate: $('generate'),
  stop: $('stop'),
};
const view = {
  error: $('error'),
  step: $('step'),
  nfe: $('nfe'),
  committed: $('committed'),
  positions: $('positions'),
  tokensPerSecond: $('tokens-per-second'),
  firstTokenMs: $('first-token-ms'),
  finishReason: $('finish-reason'),
  jobId: $('job-id'),
  canvas: $('canvas'),
  finalText: $('final-text'),
};

/** @type {{ default: string, data: { name: string, description: string, knobs: object[] }[] } | null} */
let strategies = null;
/** @type {Map<string, { dfleet?: { defaults?: { max_tokens?: number } } }>} GET /v1/models by id */
const models = new Map();
/** @type {AbortController | null} */
let running = null;

// ---------------------------------------------------------------- errors

/** An API error as the gateway answers it: `{ error: { code, message, param } }`. */
class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = error?.code ?? error?.type ?? `http_${status}`;
    this.param = error?.param ?? null;
  }
}

function showError(error) {
  const text =
    error instanceof ApiError
      ? `${error.code}${error.status ? ` (HTTP ${error.status})` : ''}: ${error.message}${error.param ? ` [param: ${error.param}]` : ''}`
      : `${error.name === 'TypeError' ? 'network_error' : 'client_error'}: ${error.message}`;
  view.error.textContent = text;
  view.error.hidden = false;
}

function clearError() {
  view.error.hidden = true;
  view.error.textContent = '';
}

async function readApiError(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's page): the status is all there is.
  }
  return new ApiError(response.status, body?.error);
}

// ---------------------------------------------------------------- the form

function headers() {
  const key = form.apiKey.value.trim();
  return key === '' ? {} : { authorization: `Bearer ${key}` };
}

async function loadStrategies() {
  const response = await fetch('/playground/strategies.json');
  if (!response.ok) throw await readApiError(response);
  strategies = await response.json();
  form.strategy.replaceChildren(
    ...strategies.data.map((s) => new Option(s.name === strategies.default ? `${s.name} (default)` : s.name, s.name)),
  );
  form.strategy.value = strategies.default;
  renderKnobs();
}

/** One input per knob of the chosen strategy, its range and default from the contract. */
function renderKnobs() {
  const strategy = strategies?.data.find((s) => s.name === form.strategy.value);
  const legend = form.knobs.querySelector('legend');
  form.knobs.replaceChildren(legend);
  form.strategyDescription.textContent = strategy?.description ?? '';
  for (const knob of strategy?.knobs ?? []) {
    const label = document.createElement('label');
    label.title = `${knob.description}; ${knob.range}`;
    label.append(`${knob.name} `);
    let input;
    if (knob.kind === 'enum') {
      input = document.createElement('select');
      input.append(new Option(`default (${knob.default})`, ''), ...knob.values.map((v) => new Option(v, v)));
    } else {
      input = document.createElement('input');
      input.type = 'number';
      input.step = knob.integer ? '1' : 'any';
      if (knob.min !== null && !knob.min_exclusive) input.min = String(knob.min);
      if (knob.max !== null) input.max = String(knob.max);
      input.placeholder = knob.default === null ? 'unset' : String(knob.default);
    }
    input.dataset.knob = knob.name;
    input.dataset.kind = knob.kind;
    input.id = `knob-${knob.name}`;
    const hint = document.createElement('small');
    hint.textContent = knob.range;
    label.append(input, hint);
    form.knobs.append(label);
  }
}

async function loadModels() {
  const response = await fetch('/v1/models', { headers: headers() });
  if (!response.ok) throw await readApiError(response);
  const list = await response.json();
  const chosen = form.model.value;
  models.clear();
  for (const model of list.data) models.set(model.id, model);
  form.model.replaceChildren(...list.data.map((model) => new Option(model.id, model.id)));
  if (models.has(chosen)) form.model.value = chosen;
  showModelDefaults();
}

function showModelDefaults() {
  // The model's default answer length is its canvas: max_tokens only cuts the answer shorter.
  const canvas = models.get(form.model.value)?.dfleet?.defaults?.max_tokens;
  form.genLength.placeholder = canvas === undefined ? '' : String(canvas);
}

/** The request body: only what the user set, so the API's own defaults apply to the rest. */
function requestBody() {
  const dfleet = { strategy: form.strategy.value, stream_states: true };
  for (const input of form.knobs.querySelectorAll('[data-knob]')) {
    if (input.value === '') continue;
    dfleet[input.dataset.knob] = input.dataset.kind === 'number' ? Number(input.value) : input.value;
  }
  const body = { model: form.model.value, prompt: form.prompt.value, stream: true, dfleet };
  if (form.genLength.value !== '') dfleet.gen_length = Number(form.genLength.value);
  if (form.maxTokens.value !== '') body.max_tokens = Number(form.maxTokens.value);
  if (form.temperature.value !== '') body.temperature = Number(form.temperature.value);
  if (form.seed.value !== '') body.seed = Number(form.seed.value);
  return body;
}

// ---------------------------------------------------------------- server-sent events

/**
 * Yields `{ event, data }` for every server-sent event of a response body (the WHATWG rules a
 * completion stream uses: `event:` and `data:` lines, a blank line ends an event).
 */
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let event = 'message';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) yield { event, data: data.join('\n') };
        event = 'message';
        data = [];
      } else if (line.startsWith(':')) {
        // A comment: keeps the connection alive.
      } else {
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const raw = colon === -1 ? '' : line.slice(colon + 1);
        const text = raw.startsWith(' ') ? raw.slice(1) : raw;
        if (field === 'event') event = text;
        else if (field === 'data') data.push(text);
      }
    }
  }
  if (data.length > 0) yield { event, data: data.join('\n') };
}

// ---------------------------------------------------------------- drawing

/** Visible text of one token: whitespace as a glyph, special tokens by name. */
function cellText(text) {
  if (text === '') return '∅';
  return text.replaceAll(' ', '·').replaceAll('\n', '↵').replaceAll('\t', '→');
}

/** Early steps blue, the latest orange: the order the model committed the answer in. */
function hueOfStep(step, lastStep) {
  return lastStep <= 1 ? 220 : 220 - (190 * (step - 1)) / (lastStep - 1);
}

function drawCanvas(state) {
  const cells = view.canvas.children;
  while (cells.length < state.tokens.length) view.canvas.append(document.createElement('span'));
  while (cells.length > state.tokens.length) view.canvas.lastElementChild.remove();
  for (let i = 0; i < state.tokens.length; i++) {
    const cell = cells[i];
    const step = state.token_steps[i];
    const token = state.tokens[i];
    cell.className = 'cell';
    cell.dataset.position = String(i);
    cell.dataset.step = String(step);
    if (step === 0 || token === null) {
      cell.classList.add('masked');
      cell.textContent = '\u00a0';
      cell.title = `position ${i}: masked`;
      cell.style.removeProperty('--hue');
      continue;
    }
    cell.classList.add('committed');
    if (/^<\|.*\|>$/.test(token)) cell.classList.add('special');
    if (step === state.step) cell.classList.add('newest');
    if (i < state.final_prefix) cell.classList.add('final');
    cell.style.setProperty('--hue', String(hueOfStep(step, state.step)));
    cell.textContent = cellText(token);
    cell.title = `position ${i}: ${JSON.stringify(token)} (id ${state.token_ids[i]}), committed at step ${step}`;
  }
  // Counted from token_steps: committed_positions may hold only what this step committed.
  const committed = state.token_steps.filter((step) => step > 0).length;
  view.step.textContent = String(state.step);
  view.nfe.textContent = String(state.nfe);
  view.committed.textContent = String(committed);
  view.positions.textContent = String(state.tokens.length);
  view.tokensPerSecond.textContent = state.decode_ms > 0 ? ((committed * 1000) / state.decode_ms).toFixed(0) : '–';
}

function resetView() {
  clearError();
  view.canvas.replaceChildren();
  view.finalText.textContent = '';
  for (const output of [view.step, view.nfe, view.committed, view.positions]) output.textContent = '0';
  for (const output of [view.tokensPerSecond, view.firstTokenMs, view.finishReason, view.jobId]) {
    output.textContent = '–';
  }
}

// ---------------------------------------------------------------- generate

async function generate() {
  resetView();
  running = new AbortController();
  form.generate.disabled = true;
  form.stop.disabled = false;
  document.body.dataset.state = 'running';
  const started = performance.now();
  let text = '';
  try {
    const response = await fetch('/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers() },
      body: JSON.stringify(requestBody()),
      signal: running.signal,
    });
    if (!response.ok) throw await readApiError(response);
    // The job's id: GET /v1/jobs/:id reads it, after a Stop too.
    view.jobId.textContent = response.headers.get('x-request-id') ?? '–';
    for await (const { event, data } of serverSentEvents(response.body)) {
      if (data === '[DONE]') break;
      const payload = JSON.parse(data);
      if (payload.error) throw new ApiError(0, payload.error);
      if (event === 'dfleet.canvas_state') {
        if (payload.index === 0) drawCanvas(payload);
        continue;
      }
      const choice = payload.choices?.find((c) => c.index === 0);
      if (!choice) continue;
      if (choice.text) {
        if (text === '') view.firstTokenMs.textContent = (performance.now() - started).toFixed(0);
        text += choice.text;
        view.finalText.textContent = text;
      }
      if (choice.finish_reason) view.finishReason.textContent = choice.finish_reason;
    }
    document.body.dataset.state = 'done';
  } catch (error) {
    document.body.dataset.state = 'failed';
    if (error.name === 'AbortError') showError(new ApiError(0, { code: 'stopped', message: 'stopped by the user' }));
    else showError(error);
  } finally {
    running = null;
    form.generate.disabled = false;
    form.stop.disabled = true;
  }
}

$('request').addEventListener('submit', (event) => {
  event.preventDefault();
  if (running === null) void generate();
});
// Closing the connection is what cancels the job on the gateway.
form.stop.addEventListener('click', () => running?.abort());
form.strategy.addEventListener('change', renderKnobs);
form.model.addEventListener('change', showModelDefaults);
form.apiKey.addEventListener('change', () => {
  clearError();
  loadModels().catch(showError);
});

document.body.dataset.state = 'loading';
Promise.all([loadStrategies(), loadModels()])
  .then(() => {
    document.body.dataset.state = 'ready';
  })
  .catch((error) => {
    // Usually 401 from /v1/models: the key field is the fix, and changing it reloads the list.
    document.body.dataset.state = 'ready';
    showError(error);
  });
