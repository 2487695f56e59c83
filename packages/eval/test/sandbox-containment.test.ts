import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeSandbox, runUntrusted } from '../src/index.ts';
import type { SandboxLayers, UntrustedProgram } from '../src/index.ts';
import { buildSandboxCommand, SANDBOX_LOCKDOWN_SCRIPT, sandboxEnvironment } from '../src/sandbox-command.ts';

let directory: string;
let marker: string;
let secretFile: string;
let server: Server;
let port: number;
let connections = 0;
let layers: SandboxLayers;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'dfleet-eval-containment-'));
  marker = join(directory, 'marker');
  secretFile = join(directory, 'secret.txt');
  await writeFile(secretFile, 'the parent can read this');
  server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  layers = await describeSandbox();
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(directory, { recursive: true, force: true });
});

/**
 * A program whose entry tries `attack` and returns 1 whatever happens, so only side effects tell.
 * `load(p, name)` is what code holding the host's `process` would use to get a builtin module:
 * `process.getBuiltinModule` (Node >= 20.16), else `process.mainModule.require`.
 */
const attempt = (id: string, attack: string): UntrustedProgram => ({
  id,
  program: `const load = (p, name) => (p.getBuiltinModule ? p.getBuiltinModule(name) : p.mainModule.require(name));\nfunction probe() {\n  try {\n${attack}\n  } catch (error) {}\n  return 1;\n}`,
  entry: 'probe',
  tests: [{ args: [], expected: 1 }],
});

describe('programs cannot reach files, the network or processes', () => {
  it('cannot write a file by any route open to a program, escape attempts included', async () => {
    const write = `fs.writeFileSync(${JSON.stringify(marker)}, 'pwned')`;
    const results = await runUntrusted([
      attempt('require', `const fs = require('fs'); ${write};`),
      attempt('global-process', `const fs = load(process, 'node:fs'); ${write};`),
      attempt(
        'constructor-escape',
        `const fs = load(this.constructor.constructor('return process')(), 'node:fs'); ${write};`,
      ),
      attempt('function-escape', `const fs = load((() => {}).constructor('return process')(), 'node:fs'); ${write};`),
      attempt('dynamic-import', `import('node:fs').then((fs) => { ${write}; });`),
      attempt('eval', `eval("require('fs').writeFileSync(${JSON.stringify(marker).replaceAll('"', "'")}, 'pwned')");`),
      attempt(
        'stack-frames',
        `Error.prepareStackTrace = (_, frames) => frames;
         for (const frame of new Error().stack) {
           const fn = frame.getFunction(); const self = frame.getThis();
           for (const host of [fn, self]) {
             try { const fs = load(host.constructor.constructor('return process')(), 'node:fs'); ${write}; } catch (error) {}
           }
         }`,
      ),
      attempt(
        'caller-chain',
        `let f = probe.caller; while (f) { try { f.constructor('return process')(); } catch (error) {} f = f.caller; }`,
      ),
    ]);
    // Every attack failed silently, so every program "passed": only the file system tells.
    expect(results.every((result) => result.passed)).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });

  it('sees neither Node globals nor a way to build functions from strings', async () => {
    const [result] = await runUntrusted([
      {
        id: 'globals',
        program: `function look() {
          const names = ['require', 'process', 'module', 'fetch', 'Buffer', 'setTimeout', 'console', 'WebSocket'];
          let generated = 'allowed';
          try { (0, eval)('1'); } catch (error) { generated = error.name; }
          return [names.filter((name) => typeof globalThis[name] !== 'undefined'), generated];
        }`,
        entry: 'look',
        tests: [{ args: [], expected: [[], 'EvalError'] }],
      },
    ]);
    expect(result).toMatchObject({ passed: true });
  });

  it('opens no connection to a server on the parent loopback', async () => {
    const target = `${port}, '127.0.0.1'`;
    const results = await runUntrusted([
      attempt('fetch', `fetch('http://127.0.0.1:${port}/');`),
      attempt('import-net', `import('node:net').then((net) => net.connect(${target}));`),
      attempt('global-process-net', `load(process, 'node:net').connect(${target});`),
      attempt('escape-net', `load(this.constructor.constructor('return process')(), 'node:net').connect(${target});`),
      attempt('wasm', `new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));`),
    ]);
    expect(results.every((result) => result.passed)).toBe(true);
    expect(connections).toBe(0);
  });
});

/** Runs `script` in a sandbox process exactly as runUntrusted starts one, and parses its one-line report. */
async function runInSandboxProcess(script: string): Promise<Record<string, string>> {
  const command = await buildSandboxCommand(script, { heapMb: 64, addressSpaceMb: 1024 });
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(command.file, [...command.args], { env: sandboxEnvironment(), timeout: 20_000 }, (error, out, err) => {
      if (error !== null) reject(new Error(`${error.message}\n${err}`));
      else resolve(out);
    });
  });
  return JSON.parse(stdout) as Record<string, string>;
}

describe('the sandbox process itself, as if a program had escaped its vm context', () => {
  it('cannot read or write files, start processes or threads, or see the parent environment, even with require in hand', async () => {
    // Runs before the lockdown, with Node's module system available: this checks the layers that
    // do not depend on the lockdown (permission model, environment, network namespace).
    const report = await runInSandboxProcess(`
      'use strict';
      const fs = require('node:fs');
      const report = {};
      const attempt = (name, action) => {
        try { action(); report[name] = 'allowed'; } catch (error) { report[name] = 'denied ' + (error.code ?? error.name); }
      };
      attempt('readFile', () => fs.readFileSync(${JSON.stringify(secretFile)}, 'utf8'));
      attempt('readProcEnviron', () => fs.readFileSync('/proc/1/environ'));
      attempt('writeFile', () => fs.writeFileSync(${JSON.stringify(marker)}, 'pwned'));
      attempt('childProcess', () => require('node:child_process').execFileSync('true'));
      attempt('workerThread', () => new (require('node:worker_threads').Worker)('0', { eval: true }));
      attempt('nativeAddon', () => process.dlopen({ exports: {} }, '/lib/x86_64-linux-gnu/libc.so.6'));
      attempt('codeFromStrings', () => new Function('return 1'));
      report.environment = Object.keys(process.env).sort().join(',');
      const socket = require('node:net').connect(${port}, '127.0.0.1');
      const finish = (outcome) => { report.connect = outcome; fs.writeSync(1, JSON.stringify(report)); process.exit(0); };
      socket.on('connect', () => finish('allowed'));
      socket.on('error', (error) => finish('denied ' + error.code));
    `);
    expect(report).toMatchObject({
      readFile: 'denied ERR_ACCESS_DENIED',
      readProcEnviron: 'denied ERR_ACCESS_DENIED',
      writeFile: 'denied ERR_ACCESS_DENIED',
      childProcess: 'denied ERR_ACCESS_DENIED',
      workerThread: 'denied ERR_ACCESS_DENIED',
      nativeAddon: 'denied ERR_DLOPEN_DISABLED',
      codeFromStrings: 'denied EvalError',
      environment: 'PATH',
    });
    expect(existsSync(marker)).toBe(false);
    if (layers.networkNamespace) {
      expect(report['connect']).toMatch(/^denied /);
      expect(connections).toBe(0);
    }
  });

  it('after the lockdown, has no global route to modules, processes, stdio sockets or fetch', async () => {
    const report = await runInSandboxProcess(`${SANDBOX_LOCKDOWN_SCRIPT}
      const names = ['require', 'module', 'process', 'fetch', 'WebSocket'];
      const present = names.filter((name) => typeof globalThis[name] !== 'undefined');
      let generated = 'allowed';
      try { Function('return process')(); } catch (error) { generated = error.name; }
      sandboxHost.writeLine(JSON.stringify({ present: present.join(','), generated }));
    `);
    expect(report).toEqual({ present: '', generated: 'EvalError' });
  });
});
