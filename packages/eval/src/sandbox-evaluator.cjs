// @ts-check
// The second part of every sandbox process's `node -e` script, after `sandbox-lockdown.cjs`.
// Reads one batch from stdin: {"timeoutMs", "maxResultChars", "programs": [{"program", "entry",
// "argsJson"}]} and evaluates the programs one after another, each in a fresh vm context. It never
// sees expected values: it reports what each call returned (as JSON text) and the parent judges.
//
// For every program it writes {"event":"start","index"} and then {"event":"done","index",
// "outcome"} to stdout, so the parent's watchdog knows which program is running and can blame
// the right one if it has to kill this process.
//
// Only strings cross between this realm and a program's context: arguments go in as a JSON
// string literal inside the call script, results come back as one string. Values created by
// untrusted code are never touched here except through `isProxy` and property descriptors,
// which run no untrusted getters or traps outside the vm timeout.
'use strict';

/** @import { SandboxHost } from './sandbox-lockdown.cjs' */
/** @import { SandboxBatch, SandboxBatchProgram, SandboxEvent, SandboxOutcome } from './sandbox-protocol.ts' */

(() => {
  /** @type {Readonly<SandboxHost>} */
  // @ts-expect-error -- declared by sandbox-lockdown.cjs, which comes first in the same `node -e` script
  const host = sandboxHost;
  const { vm, isProxy, readStdin, writeLine, nowMs } = host;

  const TIMEOUT_CODE = 'ERR_SCRIPT_EXECUTION_TIMEOUT';
  const MAX_DETAIL_CHARS = 300;

  // Runs first in each fresh context. Captures the builtins it relies on before the program can
  // replace them, and defines `__dfleetRunTests` as a non-writable, non-configurable global so a
  // program can neither overwrite nor shadow it (a top-level `let __dfleetRunTests` is an early
  // error there). Returns nothing; a program that tampers with it only spoils its own result.
  const HARNESS_SOURCE = `(() => {
    'use strict';
    const parse = JSON.parse;
    const stringify = JSON.stringify;
    const apply = Reflect.apply;
    const isFiniteNumber = Number.isFinite;
    const defineProperty = Object.defineProperty;
    const toText = String;
    const ErrorClass = Error;
    const RangeErrorClass = RangeError;
    const ALLOCATION_FAILURES = ['Array buffer allocation failed', 'Invalid string length'];
    const allocationFailed = (message) => message === ALLOCATION_FAILURES[0] || message === ALLOCATION_FAILURES[1];

    delete globalThis.console;

    const describe = (thrown) => {
      try {
        if (thrown instanceof ErrorClass) return toText(thrown.name) + ': ' + toText(thrown.message);
        return 'threw a non-Error value: ' + toText(thrown);
      } catch {
        return 'threw a value that cannot be printed';
      }
    };

    const serialize = (value) => {
      let problem = '';
      const strict = function (key, item) {
        const type = typeof item;
        if (type === 'undefined' || type === 'function' || type === 'symbol') problem = type;
        else if (type === 'number' && !isFiniteNumber(item)) problem = toText(item);
        else if (type === 'bigint') problem = 'bigint';
        if (problem !== '') throw problem;
        return item;
      };
      try {
        return { json: stringify(value, strict) };
      } catch (thrown) {
        return { problem: problem !== '' ? problem + ' is not a JSON value' : describe(thrown) };
      }
    };

    // Each test yields one tagged string: "v:<json>" returned a JSON value, "u:<why>" returned
    // something JSON cannot represent, "e:<error>" threw, "m:<error>" hit an allocation limit.
    // Stops at the first test that throws: the task has failed by then.
    const runTests = (getEntry, argsListJson, maxResultChars) => {
      const argsList = parse(argsListJson);
      let out = '[';
      for (let index = 0; index < argsList.length; index += 1) {
        if (index > 0) out += ',';
        let returned;
        try {
          returned = apply(getEntry(), undefined, argsList[index]);
        } catch (thrown) {
          const limit = thrown instanceof RangeErrorClass && allocationFailed(thrown.message);
          out += stringify((limit ? 'm:' : 'e:') + describe(thrown)) + ']';
          return out;
        }
        const serialized = serialize(returned);
        if (serialized.json === undefined) {
          out += stringify('u:' + (serialized.problem ?? 'undefined is not a JSON value'));
        } else if (serialized.json.length > maxResultChars) {
          out += stringify('u:result is longer than ' + maxResultChars + ' characters of JSON');
        } else {
          out += stringify('v:' + serialized.json);
        }
      }
      return out + ']';
    };

    defineProperty(globalThis, '__dfleetRunTests', { value: runTests, writable: false, configurable: false, enumerable: false });
  })();`;

  const harnessScript = new vm.Script(HARNESS_SOURCE, { filename: 'dfleet-eval-harness.js' });

  /** @param {string} text */
  const clip = (text) => (text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}…` : text);

  /**
   * Reads a data property without running getters or proxy traps.
   * @param {unknown} value
   * @param {string} key
   * @returns {unknown}
   */
  function ownDataProperty(value, key) {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function') || isProxy(value))
      return undefined;
    const descriptor = Object.getOwnPropertyDescriptor(value, key);
    return descriptor !== undefined && 'value' in descriptor ? descriptor.value : undefined;
  }

  // Describes a value thrown out of `runInContext` (our timeout error, or anything the program's
  // top level threw) without running any of the program's code.
  /**
   * @param {unknown} thrown
   * @returns {string}
   */
  function describeThrown(thrown) {
    if (thrown !== null && typeof thrown === 'object' && isProxy(thrown)) return 'threw a Proxy';
    const message = ownDataProperty(thrown, 'message');
    if (typeof message === 'string') {
      let name;
      for (let proto = thrown, depth = 0; proto !== null && depth < 8 && name === undefined; depth += 1) {
        const candidate = ownDataProperty(proto, 'name');
        if (typeof candidate === 'string') name = candidate;
        if (isProxy(proto)) break;
        proto = Object.getPrototypeOf(proto);
      }
      return clip(`${name ?? 'Error'}: ${message}`);
    }
    if (typeof thrown === 'string' || typeof thrown === 'number' || typeof thrown === 'boolean') {
      return clip(`threw a non-Error value: ${String(thrown)}`);
    }
    return 'threw a non-Error value';
  }

  /** @param {unknown} thrown */
  const isTimeout = (thrown) => ownDataProperty(thrown, 'code') === TIMEOUT_CODE;
  const ALLOCATION_FAILURES = ['Array buffer allocation failed', 'Invalid string length'];
  /** @param {unknown} thrown */
  const isAllocationFailure = (thrown) => {
    const message = ownDataProperty(thrown, 'message');
    return typeof message === 'string' && ALLOCATION_FAILURES.includes(message);
  };

  /**
   * @param {unknown} text what the harness call returned
   * @param {number} testCount
   * @returns {string[] | undefined}
   */
  function parseTestOutputs(text, testCount) {
    let parsed;
    try {
      parsed = typeof text === 'string' ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const wellFormed =
      Array.isArray(parsed) &&
      parsed.length <= testCount &&
      parsed.every((item) => typeof item === 'string' && /^[vuem]:/.test(item));
    return wellFormed ? parsed : undefined;
  }

  /**
   * @param {SandboxBatchProgram} task
   * @param {number} timeoutMs
   * @param {number} maxResultChars
   * @returns {SandboxOutcome}
   */
  function evaluate(task, timeoutMs, maxResultChars) {
    const startedAt = nowMs();
    const remainingMs = () => Math.max(1, Math.ceil(timeoutMs - (nowMs() - startedAt)));

    let programScript;
    try {
      programScript = new vm.Script(task.program, { filename: 'program.js' });
    } catch (thrown) {
      return { kind: 'syntax', detail: describeThrown(thrown) };
    }

    const context = vm.createContext(Object.create(null), {
      name: 'dfleet-eval-program',
      codeGeneration: { strings: false, wasm: false },
      // Promise jobs run inside the same timeout as the script that queued them.
      microtaskMode: 'afterEvaluate',
    });
    harnessScript.runInContext(context);

    try {
      programScript.runInContext(context, { timeout: remainingMs() });
    } catch (thrown) {
      if (isTimeout(thrown))
        return { kind: 'timeout', detail: `the program's top level ran longer than ${timeoutMs} ms` };
      if (isAllocationFailure(thrown))
        return { kind: 'memory', detail: `while loading the program: ${describeThrown(thrown)}` };
      return { kind: 'runtime', detail: `while loading the program: ${describeThrown(thrown)}` };
    }

    const callSource = `__dfleetRunTests(() => ${task.entry}, ${JSON.stringify(task.argsJson)}, ${maxResultChars})`;
    let returned;
    try {
      returned = new vm.Script(callSource, { filename: 'dfleet-eval-call.js' }).runInContext(context, {
        timeout: remainingMs(),
      });
    } catch (thrown) {
      if (isTimeout(thrown)) return { kind: 'timeout', detail: `the tests ran longer than ${timeoutMs} ms in all` };
      return { kind: 'runtime', detail: `the harness call failed: ${describeThrown(thrown)}` };
    }
    const testCount = JSON.parse(task.argsJson).length;
    const outputs = parseTestOutputs(returned, testCount);
    if (outputs === undefined) return { kind: 'runtime', detail: 'the program tampered with the test harness' };
    return { kind: 'outputs', outputs: outputs.map(clipTagged) };
  }

  // Keeps values whole (the parent compares them) and clips only error descriptions.
  /** @param {string} tagged */
  const clipTagged = (tagged) => (tagged.startsWith('v:') ? tagged : clip(tagged));

  /** @param {SandboxEvent} event */
  const writeEvent = (event) => writeLine(JSON.stringify(event));

  /** @type {SandboxBatch} */
  const batch = JSON.parse(readStdin());
  for (let index = 0; index < batch.programs.length; index += 1) {
    writeEvent({ event: 'start', index });
    const program = /** @type {SandboxBatchProgram} */ (batch.programs[index]);
    const outcome = evaluate(program, batch.timeoutMs, batch.maxResultChars);
    writeEvent({ event: 'done', index, outcome });
  }
  writeEvent({ event: 'finished' });
})();
