import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENERATION_QUEUES, GenerationQueues, redisOptionsFor } from '@dfleet/queue';
import { deletePrefix, eventually, SHARED_REDIS_URL, uniquePrefix } from '@dfleet/test-support';
import { BATCHES_QUEUE } from '../src/batches/batch-keys.ts';
import type { RunningGateway } from '../src/gateway.ts';
import { FIXTURE_MODEL, startTestGateway } from './support/test-fleet.ts';

const CHROMIUM = '/usr/bin/chromium';
const prefix = uniquePrefix();
const adminKey = randomBytes(24).toString('hex');
const DASHBOARD = '/admin/queues';

let gateway: RunningGateway;
let withoutKey: RunningGateway;
let queues: GenerationQueues;
/** A batch job no worker takes, so it waits in its queue for the board to show. */
let waitingJobId: string;
const stopWaiting = new AbortController();

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

function get(path: string, headers: Record<string, string> = {}, on = gateway): Promise<Response> {
  return fetch(`${on.httpUrl}${path}`, { headers });
}

beforeAll(async () => {
  gateway = await startTestGateway(prefix, { DFLEET_ADMIN_KEY: adminKey });
  withoutKey = await startTestGateway(prefix);
  queues = new GenerationQueues({ connection: redisOptionsFor(SHARED_REDIS_URL, 'worker'), prefix });
  void fetch(`${gateway.httpUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: FIXTURE_MODEL, prompt: 'function f(x) {', dfleet: { priority: 'batch' } }),
    signal: stopWaiting.signal,
  }).catch(() => undefined);
  const [job] = await eventually('the batch job to wait in its queue', async () => {
    const waiting = await queues.of('batch').getJobs(['waiting']);
    return waiting.length > 0 ? waiting : undefined;
  });
  waitingJobId = job!.id!;
}, 60_000);

afterAll(async () => {
  stopWaiting.abort();
  await gateway?.close(0);
  await withoutKey?.close(0);
  await queues?.close();
  await deletePrefix(prefix);
});

describe('the queue dashboard at /admin/queues', () => {
  it('is not mounted without DFLEET_ADMIN_KEY', async () => {
    const page = await get(DASHBOARD, { authorization: `Bearer ${adminKey}` }, withoutKey);
    expect(page.status).toBe(404);
    expect((await get(`${DASHBOARD}/api/queues`, {}, withoutKey)).status).toBe(404);
  });

  it('asks for the key with 401 and WWW-Authenticate when it is missing or wrong, and never names it', async () => {
    const refusals = [
      await get(DASHBOARD),
      await get(DASHBOARD, { authorization: basic('admin', `${adminKey}x`) }),
      await get(`${DASHBOARD}/api/queues`, { authorization: `Bearer ${adminKey.slice(1)}` }),
      await get(`${DASHBOARD}/static/favicon-32x32.png`, { authorization: 'Token abc' }),
    ];
    for (const refusal of refusals) {
      expect(refusal.status).toBe(401);
      expect(refusal.headers.get('www-authenticate')).toMatch(/^Basic realm="dfleet admin"/);
      const body = await refusal.text();
      expect(body).toMatch(/"code":"(missing|invalid)_admin_key"/);
      expect(body).not.toContain(adminKey);
    }
  });

  it('answers with the key as a Basic password (any user) or a Bearer token, listing the generation and batch queues', async () => {
    const asBrowser = await get(DASHBOARD, { authorization: basic('anyone', adminKey) });
    expect(asBrowser.status).toBe(200);
    expect(asBrowser.headers.get('content-type')).toMatch(/^text\/html/);
    const api = await get(`${DASHBOARD}/api/queues`, { authorization: `Bearer ${adminKey}` });
    expect(api.status).toBe(200);
    const listed = ((await api.json()) as { queues: { name: string }[] }).queues.map((queue) => queue.name);
    // No DFLEET_WEBHOOK_SECRET here, so this gateway has no webhooks queue to show.
    expect(listed.sort()).toEqual([...Object.values(GENERATION_QUEUES), BATCHES_QUEUE].sort());
  });

  it("takes the board's JSON request bodies through the gateway's strict JSON parser", async () => {
    const set = await fetch(`${gateway.httpUrl}${DASHBOARD}/api/queues/${GENERATION_QUEUES.batch}/concurrency`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ concurrency: 3 }),
    });
    expect(set.status).toBe(200);
    expect(await queues.of('batch').getGlobalConcurrency()).toBe(3);
    await queues.of('batch').removeGlobalConcurrency();
  });
});

const haveChromium = existsSync(CHROMIUM);
describe.skipIf(!haveChromium)(`the queue dashboard in headless Chromium (needs ${CHROMIUM})`, () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage', '--disable-gpu'],
    });
  }, 60_000);
  afterAll(async () => browser?.close());

  it('logs in with the key, lists the queues and shows the waiting job', async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: adminKey } });
    const page = await context.newPage();
    const entry = await page.goto(`${gateway.httpUrl}${DASHBOARD}`);
    expect(entry?.status()).toBe(200);
    for (const name of Object.values(GENERATION_QUEUES)) {
      await page.getByText(name, { exact: true }).first().waitFor();
    }
    await page.goto(`${gateway.httpUrl}${DASHBOARD}/queue/${GENERATION_QUEUES.batch}?status=waiting`);
    await page.getByText(waitingJobId).first().waitFor();
    await context.close();
  });

  it("pauses and resumes a queue from the board's menu (its PUTs pass the gateway's body hooks)", async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: adminKey } });
    const page = await context.newPage();
    const answers: number[] = [];
    page.on('response', (response) => {
      if (response.request().method() === 'PUT') answers.push(response.status());
    });
    const batch = queues.of('batch');
    await page.goto(`${gateway.httpUrl}${DASHBOARD}/queue/${GENERATION_QUEUES.batch}`);
    for (const [action, paused] of [
      ['Pause', true],
      ['Resume', false],
    ] as const) {
      await page.locator('button[aria-haspopup]').last().click();
      await page.getByRole('menuitem', { name: action }).click();
      const confirm = page.getByRole('button', { name: 'Confirm' });
      if (await confirm.isVisible().catch(() => false)) await confirm.click();
      await eventually(
        `the batch queue to be ${paused ? 'paused' : 'running'}`,
        async () => (await batch.isPaused()) === paused,
      );
    }
    await eventually('both answers', () => answers.length === 2);
    expect(answers).toEqual([200, 200]);
    await context.close();
  });

  it('challenges a browser with the wrong key again, so it never gets in', async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: 'not-the-key' } });
    const page = await context.newPage();
    // Chromium answers the challenge with the credentials it has, is refused again, and shows the refusal.
    const entry = await page.goto(`${gateway.httpUrl}${DASHBOARD}`);
    expect(entry?.status()).toBe(401);
    expect(await page.content()).toContain('invalid_admin_key');
    expect(await page.content()).not.toContain(GENERATION_QUEUES.batch);
    await context.close();
  });
});
