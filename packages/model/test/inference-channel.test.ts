import { once } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createControlBlock,
  createInputBuffer,
  RequestKind,
  Slot,
  type InferenceThreadData,
  type InputBuffer,
  type ReplyMessage,
} from '../src/inference-channel.mjs';
import { sessionOptionsFor } from '../src/execution-provider.ts';
import { DenoiserClosedError, loadModelManifest } from '../src/index.ts';
import { WorkerThreadSession } from '../src/worker-thread-session.ts';
import { FIXTURES_DIR, MODEL_DIR } from './model-directory.ts';

// The inference thread driven directly through its shared-memory channel, as
// worker-thread-session.ts drives it, so a test can wake it the ways the owner never does.
const THREAD_ENTRY = new URL('../src/inference-thread.mjs', import.meta.url);
const VOCAB_SIZE = 102;

describe('inference thread channel', () => {
  let worker: Worker;
  let port: MessagePort;
  let control: Int32Array<SharedArrayBuffer>;
  let inputs: InputBuffer;

  beforeEach(async () => {
    const manifest = await loadModelManifest(MODEL_DIR);
    const { port1, port2 } = new MessageChannel();
    control = createControlBlock();
    inputs = createInputBuffer(4096);
    port = port1;
    const sessionOptions = sessionOptionsFor({ executionProvider: 'cpu', deviceId: 0, intraOpNumThreads: 1 });
    worker = new Worker(THREAD_ENTRY, {
      workerData: {
        modelPath: join(MODEL_DIR, manifest.files.onnx),
        sessionOptions,
        outputs: { form: 'logits' },
        port: port2,
        control: control.buffer,
        inputs: inputs.buffer,
      } satisfies InferenceThreadData,
      transferList: [port2],
      execArgv: [],
    });
    const [startup] = (await once(worker, 'message')) as [{ type: string }];
    expect(startup.type).toBe('ready');
  });
  afterEach(async () => {
    port.close();
    await worker.terminate();
  });

  /** Posts one run as the owner does and returns the id the thread must echo. */
  function postRun(sequenceLength: number): number {
    inputs.inputIds.fill(5, 0, sequenceLength);
    inputs.attentionMask.fill(1, 0, sequenceLength);
    control[Slot.REQUEST_KIND] = RequestKind.RUN;
    control[Slot.BATCH_SIZE] = 1;
    control[Slot.SEQUENCE_LENGTH] = sequenceLength;
    control[Slot.INPUTS_REPLACED] = 0;
    const requestId = (Atomics.add(control, Slot.REQUESTS, 1) + 1) | 0;
    Atomics.notify(control, Slot.REQUESTS);
    return requestId;
  }

  async function nextReply(): Promise<ReplyMessage> {
    const [message] = (await once(port, 'message')) as [ReplyMessage];
    return message;
  }

  it('echoes the id of the request each reply answers', async () => {
    for (const length of [12, 30]) {
      const requestId = postRun(length);
      const reply = await nextReply();
      expect(reply).toMatchObject({ type: 'result', requestId, result: { dims: [1, length, VOCAB_SIZE] } });
    }
  });

  it('ignores a late notify for a request it already served, so the next request gets its own reply', async () => {
    const first = postRun(12);
    expect(await nextReply()).toMatchObject({ requestId: first, result: { dims: [1, 12, VOCAB_SIZE] } });
    // An owner preempted between the bump and the notify: the thread's poll served the request,
    // and the notify wakes it once it sleeps again. Before the fix it ran the previous request
    // again, and its extra [1, 12] reply answered the next, [1, 20] request.
    while (Atomics.notify(control, Slot.REQUESTS) === 0) await sleep(1);
    const second = postRun(20);
    expect(await nextReply()).toMatchObject({ requestId: second, result: { dims: [1, 20, VOCAB_SIZE] } });
  });
});

describe('WorkerThreadSession reply matching', () => {
  it('accepts no reply to another request than the one in flight, even of the right shape, and closes', async () => {
    const offByOne = new URL('off-by-one-inference-thread.mjs', pathToFileURL(FIXTURES_DIR));
    const session = await WorkerThreadSession.open('unused.onnx', {}, { form: 'logits' }, { threadEntry: offByOne });
    const batch = { batchSize: 1, sequenceLength: 8, inputIds: new Int32Array(8), attentionMask: new Uint8Array(8) };
    try {
      const first = session.run(batch);
      const queued = session.run(batch);
      await expect(first).rejects.toThrow(/answered request 0 while request 1 was in flight/);
      await expect(queued).rejects.toThrow(DenoiserClosedError);
      await expect(session.run(batch)).rejects.toThrow(DenoiserClosedError);
    } finally {
      await session.close();
    }
  });
});
