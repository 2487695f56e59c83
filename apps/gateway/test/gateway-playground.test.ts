import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey } from '@dfleet/api-keys';
import { DEFAULT_MODEL_DIR } from '@dfleet/model';
import { eventually, getJson, postCompletion, TestFleet, type GatewayProcess } from '@dfleet/test-support';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = fileURLToPath(new URL('../../../docs/playground.png', import.meta.url));
/** Set to rewrite docs/playground.png, the screenshot README.md shows; otherwise it goes to a temporary folder. */
const UPDATE_SCREENSHOT = process.env['DFLEET_UPDATE_SCREENSHOT'] === '1';

const heldout = readFileSync(join(DEFAULT_MODEL_DIR, 'eval', 'heldout.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as { id: string; prompt: string; solution: string });

/** What the page showed during one generation, recorded in the page as it changed. */
interface Observed {
  stepsShown: number[];
  mostMaskedCells: number;
  cellsWhenMasked: number;
}

/**
 * Runs in the page (as text: this project's TypeScript has no DOM types): records every step the
 * counter showed and the most masked cells at once, from DOM mutations, so no step is missed
 * between two polls.
 */
const RECORD_WHAT_THE_PAGE_SHOWS = `(() => {
  const seen = { stepsShown: [], mostMaskedCells: 0, cellsWhenMasked: 0 };
  window.observed = seen;
  const record = () => {
    const step = Number(document.getElementById('step').textContent);
    if (seen.stepsShown.at(-1) !== step) seen.stepsShown.push(step);
    const masked = document.querySelectorAll('#canvas .cell.masked').length;
    if (masked > seen.mostMaskedCells) {
      seen.mostMaskedCells = masked;
      seen.cellsWhenMasked = document.querySelectorAll('#canvas .cell').length;
    }
  };
  new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
})()`;

const apiKey = generateApiKey();
const bearer = { authorization: `Bearer ${apiKey}` };
let keysDir: string;
let fleet: TestFleet;
let gateway: GatewayProcess;
let browser: Browser;
let page: Page;

/** The step the page shows while it generates; Infinity once it stopped (done or failed). */
async function stepOrDone(): Promise<number> {
  const running = (await page.getAttribute('body', 'data-state')) === 'running';
  return running ? Number(await page.textContent('#step')) : Number.POSITIVE_INFINITY;
}

/** A fresh page with the key typed in and the model list loaded with it. */
async function openWithKey(): Promise<void> {
  await page.goto(`${gateway.httpUrl}/playground`);
  await page.waitForSelector('body[data-state="ready"]');
  await page.fill('#api-key', apiKey);
  await page.dispatchEvent('#api-key', 'change');
  await page.waitForSelector('#model option[value="jsfunc-mdm"]', { state: 'attached' });
}

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`skipping the playground's browser test: ${CHROMIUM} is missing (Debian: apt-get install chromium)`);
}

describe.skipIf(!haveChromium)(`the playground in headless Chromium (needs ${CHROMIUM})`, () => {
  beforeAll(async () => {
    keysDir = mkdtempSync(join(tmpdir(), 'dfleet-playground-'));
    const keysFile = join(keysDir, 'keys.json');
    writeFileSync(
      keysFile,
      JSON.stringify({ keys: [{ id: 'playground', tenant: 'web', sha256: hashApiKey(apiKey) }] }),
    );
    fleet = new TestFleet({ env: { DFLEET_API_KEYS_FILE: keysFile, DFLEET_INTRA_OP_THREADS: '1' } });
    gateway = await fleet.startGateway();
    await fleet.startWorker('playground-worker');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage', '--disable-gpu'],
    });
    page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await fleet?.close();
    if (keysDir) rmSync(keysDir, { recursive: true, force: true });
  });

  it('is served without a key while the API it calls requires one', async () => {
    const html = await fetch(`${gateway.httpUrl}/playground`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    const strategies = await getJson(`${gateway.httpUrl}/playground/strategies.json`);
    expect(strategies.status).toBe(200);
    const models = await getJson(`${gateway.httpUrl}/v1/models`);
    expect(models.status).toBe(401);
  });

  it('shows the API error plainly, code and message, until a key is typed', async () => {
    await page.goto(`${gateway.httpUrl}/playground`);
    await page.waitForSelector('body[data-state="ready"]');
    const error = page.locator('#error');
    await expect.poll(() => error.isVisible()).toBe(true);
    expect(await error.textContent()).toMatch(/^missing_api_key \(HTTP 401\): this gateway requires an API key/);

    await page.fill('#api-key', apiKey);
    await page.dispatchEvent('#api-key', 'change');
    await page.waitForSelector('#model option[value="jsfunc-mdm"]', { state: 'attached' });
    expect(await error.isVisible()).toBe(false);
    // The strategy list is the gateway's, built from the decoder's contract.
    const served = (await getJson(`${gateway.httpUrl}/playground/strategies.json`)).body as {
      default: string;
      data: { name: string }[];
    };
    expect(
      await page.locator('#strategy option').evaluateAll((options) => options.map((o) => o.getAttribute('value'))),
    ).toEqual(served.data.map((s) => s.name));
    expect(await page.inputValue('#strategy')).toBe(served.default);
  });

  it('shows the answer unmasking step by step, ending with the text a non-streamed completion gives', async () => {
    await openWithKey();
    const prompt = await page.inputValue('#prompt');
    const task = heldout.find((t) => t.prompt === prompt);
    expect(task, 'the page is prefilled with a held-out prompt').toBeDefined();
    // One position per step: the unmasking is visible over many steps.
    await page.selectOption('#strategy', 'reference');
    await page.waitForSelector('#knob-steps');

    await page.evaluate(RECORD_WHAT_THE_PAGE_SHOWS);
    await page.click('#generate');
    // The picture README.md shows: mid-decode, some cells committed and some still masked.
    await expect.poll(stepOrDone, { interval: 20, timeout: 60_000 }).toBeGreaterThanOrEqual(28);
    const screenshot = UPDATE_SCREENSHOT ? SCREENSHOT : join(keysDir, 'playground.png');
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    await page.waitForSelector('body[data-state="done"], body[data-state="failed"]', { timeout: 60_000 });
    const error = page.locator('#error');
    if (await error.isVisible()) throw new Error(`the page showed an error: ${await error.textContent()}`);

    const observed = (await page.evaluate('window.observed')) as Observed;
    const lastStep = Number(await page.textContent('#step'));
    expect(lastStep).toBeGreaterThan(1);
    expect(observed.stepsShown.filter((step) => step > 0).length).toBeGreaterThan(1);
    expect(observed.stepsShown.filter((step) => step > 0)).toEqual(
      [...observed.stepsShown.filter((step) => step > 0)].sort((a, b) => a - b),
    );
    expect(observed.mostMaskedCells).toBeGreaterThan(0);

    const cells = page.locator('#canvas .cell');
    const cellCount = await cells.count();
    expect(cellCount).toBe(observed.cellsWhenMasked);
    expect(await page.locator('#canvas .cell.masked').count()).toBe(0);
    expect(await page.locator('#canvas .cell.committed').count()).toBe(cellCount);
    const stepsOfCells = await cells.evaluateAll((all) => all.map((cell) => Number(cell.getAttribute('data-step'))));
    expect(Math.max(...stepsOfCells)).toBe(lastStep);
    expect(Number(await page.textContent('#nfe'))).toBeGreaterThanOrEqual(lastStep);
    expect(Number(await page.textContent('#tokens-per-second'))).toBeGreaterThan(0);

    const nonStreamed = await postCompletion(
      gateway.httpUrl,
      { model: 'jsfunc-mdm', prompt, dfleet: { strategy: 'reference' } },
      { headers: bearer },
    );
    expect(nonStreamed.status).toBe(200);
    const text = await page.textContent('#final-text');
    expect(text).toBe(nonStreamed.body['choices'][0].text);
    expect(await page.textContent('#finish-reason')).toBe(nonStreamed.body['choices'][0].finish_reason);
    expect(text, 'the shipped model answers the prefilled prompt right').toBe(task?.solution);

    expect(readFileSync(screenshot).subarray(1, 4).toString()).toBe('PNG');
  });

  it('stops a generation with Stop, which closes the stream and so cancels the job', async () => {
    await openWithKey();
    await page.selectOption('#strategy', 'reference');
    // One token per step over a long canvas: the job is still decoding when Stop is clicked.
    await page.fill('#gen-length', '90');
    await page.click('#generate');
    await expect.poll(stepOrDone, { interval: 20, timeout: 60_000 }).toBeGreaterThanOrEqual(2);
    const error = page.locator('#error');
    if (await error.isVisible()) throw new Error(`the page showed an error: ${await error.textContent()}`);
    await page.click('#stop');
    await page.waitForSelector('body[data-state="failed"]');
    expect(await page.textContent('#error')).toBe('stopped: stopped by the user');
    const jobId = await page.textContent('#job-id');
    expect(jobId).toMatch(/^idem-/);
    const finishReason = await eventually('the stopped job to finish', async () => {
      const job = await getJson(`${gateway.httpUrl}/v1/jobs/${jobId}`, { headers: bearer });
      return job.body['result']?.dfleet?.finish_reason as string | undefined;
    });
    expect(finishReason).toBe('cancelled');
    expect(Number(await page.textContent('#step'))).toBeLessThan(90);
  });
});
