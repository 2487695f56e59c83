import { describe, expect, it } from 'vitest';

import { describeSandbox, runUntrusted, SandboxUnavailableError } from '../src/index.ts';
import type { UntrustedProgram } from '../src/index.ts';
import { buildSandboxCommand, SANDBOX_LOCKDOWN_SCRIPT } from '../src/sandbox-command.ts';
import { runSandboxProcess } from '../src/sandbox-process.ts';

const squares = (id: string, body: string): UntrustedProgram => ({
  id,
  program: `function square(x) {\n${body}\n}`,
  entry: 'square',
  tests: [{ args: [3], expected: 9 }],
});
const correct = (id: string): UntrustedProgram => squares(id, 'return x * x;');

describe('runUntrusted with hostile programs', () => {
  it('times out an infinite loop at the default 1000 ms and still judges the rest of its chunk', async () => {
    const results = await runUntrusted([correct('before'), squares('loop', 'while (true) {}'), correct('after')]);
    expect(results.map((result) => [result.id, result.passed, result.error])).toEqual([
      ['before', true, undefined],
      ['loop', false, 'timeout'],
      ['after', true, undefined],
    ]);
  });

  it('stops a promise-job loop, which runs outside the synchronous call, and still judges the rest of its chunk', async () => {
    const results = await runUntrusted(
      [
        correct('before'),
        squares('jobs', 'const spin = () => Promise.resolve().then(spin); spin(); return x * x;'),
        correct('after'),
      ],
      { timeoutMs: 300 },
    );
    // The chain of pending promises grows without bound: whichever limit it meets first stops it,
    // the vm timeout or a native allocation refused under the address-space cap (std::bad_alloc).
    expect(['timeout', 'memory']).toContain(results[1]?.error);
    expect(results.map((result) => [result.id, result.passed])).toEqual([
      ['before', true],
      ['jobs', false],
      ['after', true],
    ]);
  });

  it('reports a heap bomb as memory, without taking the parent or its neighbours down', async () => {
    const results = await runUntrusted(
      [
        correct('first'),
        squares('heap-bomb', 'const hoard = []; for (;;) hoard.push(new Array(1e6).fill(1.5));'),
        correct('last'),
      ],
      // A small heap dies sooner; the bomb runs twice (in its chunk, then alone to confirm the blame).
      { timeoutMs: 5_000, heapMb: 24 },
    );
    expect(results.map((result) => [result.id, result.passed, result.error])).toEqual([
      ['first', true, undefined],
      ['heap-bomb', false, 'memory'],
      ['last', true, undefined],
    ]);
    expect(results[1]?.detail).toContain('ran out of memory (heap cap 24 MiB');
  });

  it('stops ArrayBuffer and string bombs, which grow outside the V8 heap cap', async () => {
    const layers = await describeSandbox();
    const results = await runUntrusted(
      [
        squares(
          'buffer-bomb',
          'const hoard = []; for (;;) { const b = new ArrayBuffer(64 * 1024 * 1024); new Uint8Array(b).fill(7); hoard.push(b); }',
        ),
        squares('string-bomb', 'let s = "x"; for (;;) s += s;'),
      ],
      { timeoutMs: 5_000 },
    );
    // Without prlimit the buffer bomb is stopped by the timeout instead of an allocation failure.
    expect(results[0]?.error).toBe(layers.addressSpaceLimit ? 'memory' : 'timeout');
    expect(results[1]?.error).toBe('memory');
  });

  it('kills a sandbox process that stops reporting, from the parent', async () => {
    const hang = `${SANDBOX_LOCKDOWN_SCRIPT}\nsandboxHost.writeLine(JSON.stringify({ event: 'start', index: 0 }));\nfor (;;) {}\n`;
    const command = await buildSandboxCommand(hang, { heapMb: 64, addressSpaceMb: 1024 });
    const report = await runSandboxProcess(
      command,
      { timeoutMs: 100, maxResultChars: 100, programs: [] },
      { startupTimeoutMs: 10_000, programKillAfterMs: 300, maxLineBytes: 1024 },
    );
    expect(report.ending).toBe('watchdog');
    expect(report.inFlight).toBe(0);
    expect(report.signal).toBe('SIGKILL');
  });

  it('refuses to run when sandbox processes cannot even start', async (context) => {
    if (!(await describeSandbox()).addressSpaceLimit) context.skip();
    // Node needs far more than 256 MiB of address space to start.
    await expect(runUntrusted([correct('x')], { addressSpaceMb: 256 })).rejects.toThrow(SandboxUnavailableError);
  });
});
