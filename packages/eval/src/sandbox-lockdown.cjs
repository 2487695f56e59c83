// @ts-check
// The first part of every sandbox process's `node -e` script; `sandbox-evaluator.cjs` follows it
// in the same script. It runs before any untrusted code exists: it keeps the few host
// capabilities the evaluator needs inside a frozen object and removes every global route to
// Node's module system, to other processes and to the network. The process also runs under
// `--experimental-permission` (no file system, no child processes, no workers, no addons) and
// `--disallow-code-generation-from-strings` (no `eval`/`Function` in this realm), usually inside
// its own network namespace: see sandbox-command.ts. If anything on the list below cannot be
// removed, the process exits before reading its input rather than run code less locked down.
'use strict';

/**
 * What the evaluator may use of the host: everything else is gone by the time it runs.
 * @typedef {object} SandboxHost
 * @property {typeof import('node:vm')} vm
 * @property {(value: unknown) => boolean} isProxy
 * @property {() => string} readStdin Reads all of stdin, synchronously.
 * @property {(text: string) => void} writeLine Writes one line to stdout, synchronously.
 * @property {() => number} nowMs
 */

/** @type {Readonly<SandboxHost>} */
// biome-ignore lint/correctness/noUnusedVariables: read by sandbox-evaluator.cjs, which follows in the same script.
const sandboxHost = (() => {
  const fs = require('node:fs');
  const vm = require('node:vm');
  const { isProxy } = require('node:util').types;
  const { performance } = require('node:perf_hooks');

  const STDIN_FD = 0;
  const STDOUT_FD = 1;

  /**
   * @param {unknown} error
   * @param {string} code
   */
  const hasCode = (error, code) =>
    typeof error === 'object' && error !== null && 'code' in error && error.code === code;

  // Reads fd 0 until end of file. Synchronous on purpose: the evaluator never yields to the
  // event loop, so nothing queued by untrusted code can run between programs.
  function readStdin() {
    const chunks = [];
    const buffer = Buffer.allocUnsafe(1 << 16);
    for (;;) {
      let bytesRead;
      try {
        bytesRead = fs.readSync(STDIN_FD, buffer, 0, buffer.length, null);
      } catch (error) {
        if (hasCode(error, 'EAGAIN')) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
          continue;
        }
        if (hasCode(error, 'EOF')) break;
        throw error;
      }
      if (bytesRead === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, bytesRead)));
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** @param {string} text */
  function writeLine(text) {
    const bytes = Buffer.from(`${text}\n`, 'utf8');
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += fs.writeSync(STDOUT_FD, bytes, offset, bytes.length - offset);
      } catch (error) {
        if (hasCode(error, 'EAGAIN')) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
          continue;
        }
        throw error;
      }
    }
  }

  const nowMs = () => performance.now();
  const exitProcess = process.exit.bind(process);

  // Globals of the `node -e` scope and Node's network-capable globals.
  const GLOBALS_TO_REMOVE = [
    'require',
    'module',
    'exports',
    '__filename',
    '__dirname',
    'fetch',
    'WebSocket',
    'EventSource',
    'navigator',
    'XMLHttpRequest',
  ];
  // Native bindings, addon loading, the builtin-module getter (backported to Node 20), signals to
  // other processes (kill; _debugProcess starts another process's inspector), stdio streams
  // (net.Socket instances whose constructor can connect anywhere) and identity. `env` stays:
  // Node's own code reads it, and the parent starts this process with an empty environment.
  const PROCESS_MEMBERS_TO_REMOVE = [
    'binding',
    '_linkedBinding',
    'dlopen',
    'getBuiltinModule',
    'mainModule',
    'kill',
    '_kill',
    '_debugProcess',
    '_debugEnd',
    '_startProfilerIdleNotifier',
    '_stopProfilerIdleNotifier',
    'report',
    'stdin',
    'stdout',
    'stderr',
    'openStdin',
    'send',
    'channel',
    'disconnect',
    'chdir',
    'umask',
    'setuid',
    'setgid',
    'seteuid',
    'setegid',
    'setgroups',
    'initgroups',
    'execve',
    'loadEnvFile',
  ];

  // Some of these members are not in Node's type definitions (internal, or newer than Node 20).
  const processMembers = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (process));
  const globals = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (globalThis));
  const leftBehind = [];
  for (const name of PROCESS_MEMBERS_TO_REMOVE) {
    try {
      delete processMembers[name];
    } catch {
      // Reported below through the `in` check.
    }
    if (name in process) leftBehind.push(`process.${name}`);
  }
  for (const name of [...GLOBALS_TO_REMOVE, 'process']) {
    try {
      delete globals[name];
    } catch {
      // Reported below through the `in` check.
    }
    if (name in globalThis) leftBehind.push(name);
  }
  if (leftBehind.length > 0) {
    writeLine(JSON.stringify({ event: 'lockdown_failed', detail: `could not remove ${leftBehind.join(', ')}` }));
    exitProcess(70);
  }

  return Object.freeze({ vm, isProxy, readStdin, writeLine, nowMs });
})();
