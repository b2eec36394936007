// The JavaScript side of flowtape.connectors.sandbox: runs one piece of user code and reports once.
//
// Passed to `node -e`; it uses Node's built-in modules only. Protocol, as sandbox_runner.py: the parent writes
// {"code", "items", "context", ...} as JSON on stdin and reads one JSON outcome on stdout. Node cannot move a
// descriptor, so the shell that starts it does: the outcome goes to descriptor 3 (the parent's stdout) and
// descriptor 1 is stderr, so whatever the code prints, even with fs.writeSync(1, ...), lands in the logs.
// Limits (address space, CPU time, processes, files) are set from outside with prlimit, the heap with
// --max-old-space-size.
'use strict';

const fs = require('fs');
const vm = require('vm');

const FILENAME = '<code>';
const MESSAGE_CHARS = 500;
const RESULT_FD = 3;
const ENTRY = '\n;return typeof run === "function" ? run : module.exports && module.exports.run;';

function main() {
  const payload = JSON.parse(fs.readFileSync(0, 'utf8'));
  delete process.env.PWD; // the shell sets it; the code's environment is only what the parent set
  process.on('SIGXFSZ', () => {}); // a file past RLIMIT_FSIZE fails the write (EFBIG) instead of killing
  runCode(payload).then(report, (error) => report(failure(error)));
}

async function runCode({ code, items, context }) {
  let compiled;
  try {
    compiled = vm.compileFunction(code + ENTRY, ['require', 'module', 'exports'], { filename: FILENAME });
  } catch (error) {
    if (error instanceof SyntaxError) {
      return { ok: false, kind: 'syntax', message: error.message, line: syntaxLine(error) };
    }
    throw error;
  }
  let result;
  try {
    const module = { exports: {} };
    const run = compiled(require, module, module.exports);
    if (typeof run !== 'function') {
      return { ok: false, kind: 'no_run' };
    }
    result = await run(items, context);
  } catch (error) {
    return isMemoryError(error) ? { ok: false, kind: 'memory' } : failure(error);
  }
  return checked(result);
}

function syntaxLine(error) {
  const match = /^<code>:(\d+)/.exec(String(error.stack));
  return match ? Number(match[1]) : null;
}

function isMemoryError(error) {
  return error instanceof RangeError && /allocation failed/i.test(String(error.message));
}

function failure(error) {
  try {
    const isError = error instanceof Error;
    const type = isError ? String(error.name || error.constructor.name) : typeof error;
    let message = isError ? String(error.message) : String(error);
    if (message.length > MESSAGE_CHARS) {
      message = message.slice(0, MESSAGE_CHARS) + '…';
    }
    const frames = isError ? codeFrames(String(error.stack)) : [];
    return {
      ok: false,
      kind: 'exception',
      type,
      message,
      line: frames.length ? frames[0].line : null,
      traceback: [message ? `${type}: ${message}` : type, ...frames.map((frame) => frame.text)].join('\n') + '\n',
    };
  } catch (inner) {
    return { ok: false, kind: 'exception', type: 'Error', message: 'the code threw something unprintable', line: null };
  }
}

function codeFrames(stack) {
  const frames = [];
  for (const text of stack.split('\n')) {
    const match = /<code>:(\d+):\d+\)?$/.exec(text);
    if (match) {
      frames.push({ line: Number(match[1]), text });
    }
  }
  return frames;
}

function checked(result) {
  if (!Array.isArray(result)) {
    return invalid(`run() must return an array of items (objects), but it returned ${kind(result)}`);
  }
  for (let index = 0; index < result.length; index++) {
    const item = result[index];
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      return invalid(`run() must return an array of objects, but item ${index} is ${kind(item)}`);
    }
  }
  return { ok: true, items: result };
}

function invalid(message) {
  return { ok: false, kind: 'invalid_result', message };
}

function kind(value) {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function encoded(outcome) {
  try {
    return JSON.stringify(outcome);
  } catch (error) {
    if (isMemoryError(error)) return JSON.stringify({ ok: false, kind: 'memory' });
    return JSON.stringify(invalid(`run() returned items that are not JSON-serializable: ${error.message}`));
  }
}

function report(outcome) {
  let data;
  try {
    data = Buffer.from(encoded(outcome));
  } catch (error) {
    data = Buffer.from(JSON.stringify({ ok: false, kind: 'memory' }));
  }
  let written = 0;
  while (written < data.length) {
    try {
      written += fs.writeSync(RESULT_FD, data, written);
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // the parent is draining the pipe
    }
  }
  // Skip the code's exit handlers and pending timers: they must not delay or alter the outcome.
  (process.reallyExit || process.exit)(0);
}

main();
