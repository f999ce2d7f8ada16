// Whirl's nodejs launcher: speaks the action-loop protocol on pipes.
// Once node has started it writes the ready line {"ready":true} on fd 3.
// The first stdin line is the init message ({"file", "main", "env",
// "source", "concurrent"}); then one line per activation. Results go to
// fd 3, one JSON line each; after each, the log sentinel is written on
// stdout and stderr. With "concurrent", activations run interleaved and
// each result line is prefixed by the activation id and a space; no
// sentinel is written (logs cannot be told apart).
'use strict';
const fs = require('fs');
const Module = require('module');
const path = require('path');
const readline = require('readline');

const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n';
let concurrent = false;
let fn = null;

// The environment the action sees. Assigning to the real process.env calls
// the C library's setenv, and glibc keeps every value it was ever given for
// the life of the process: the seven __OW_* variables of each activation
// cost ~500 bytes that were never freed. process.env is therefore replaced
// by a Proxy over a plain copy of it (envView): the launcher writes each
// activation's __OW_* values to the copy alone, and what the action itself
// assigns or deletes goes to both (so TZ and the like keep their effect).
// child_process passes process.env to the processes it starts, so they see
// the current values; C code calling getenv (a native addon) sees the
// __OW_* variables of init time only.
const realEnv = process.env;
const envView = Object.assign({}, realEnv);
process.env = new Proxy(envView, {
  set(view, k, v) {
    realEnv[k] = v;
    view[k] = realEnv[k]; // as the real one stores it: a string
    return true;
  },
  deleteProperty(view, k) {
    delete realEnv[k];
    return delete view[k];
  },
});

function writeResult(id, body) {
  fs.writeSync(3, (concurrent ? id + ' ' : '') + body + '\n');
  if (!concurrent) {
    fs.writeSync(1, SENTINEL);
    fs.writeSync(2, SENTINEL);
  }
}

function load(init) {
  for (const [k, v] of Object.entries(init.env || {})) {
    process.env[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  concurrent = !!init.concurrent;
  const name = init.main || 'main';
  if (init.dir) process.chdir(init.dir);
  let exported;
  if (init.source) {
    // A single file may define main without exporting it.
    const src = fs.readFileSync(init.file, 'utf8');
    const m = new Module(init.file, null);
    m.filename = init.file;
    m.paths = Module._nodeModulePaths(path.dirname(init.file));
    const tail = /^[A-Za-z_$][\w$]*$/.test(name)
      ? `\n;try{if(typeof ${name}==='function'&&module.exports.${name}===undefined)module.exports.${name}=${name};}catch(e){}\n`
      : '';
    m._compile(src + tail, init.file);
    exported = m.exports;
  } else {
    exported = require(init.file);
  }
  const f = exported && (typeof exported[name] === 'function' ? exported[name] : (name === 'main' && typeof exported === 'function' ? exported : null));
  if (!f) throw new Error(`action entry point '${name}' is not a function in the code`);
  return f;
}

function stringify(res) {
  const s = JSON.stringify(res);
  return s === undefined ? 'null' : s;
}

async function run(line) {
  let msg;
  let body;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    writeResult('', JSON.stringify({ error: 'bad activation message' }));
    return;
  }
  const id = msg.activation_id || '';
  try {
    const value = msg.value || {};
    for (const [k, v] of Object.entries(msg)) {
      if (k !== 'value') envView['__OW_' + k.toUpperCase()] = typeof v === 'string' ? v : JSON.stringify(v);
    }
    const res = await fn(value);
    body = stringify(res);
  } catch (e) {
    console.error(e);
    body = JSON.stringify({ error: e && e.message !== undefined ? e.message : String(e) });
  }
  writeResult(id, body);
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let first = true;
rl.on('line', (line) => {
  if (first) {
    first = false;
    try {
      fn = load(JSON.parse(line));
    } catch (e) {
      console.error(e);
      const c = concurrent;
      concurrent = false;
      writeResult('', JSON.stringify({ error: 'Initialization has failed due to: ' + (e && e.stack ? String(e.stack).split('\n')[0] : String(e)) }));
      concurrent = c;
      return;
    }
    const c = concurrent;
    concurrent = false;
    writeResult('', '{"ok":true}');
    concurrent = c;
    return;
  }
  run(line);
});
rl.on('close', () => process.exit(0));
fs.writeSync(3, '{"ready":true}\n');
