// app.js: Whirl's console. It calls the public REST API with the caller's
// key (Basic auth) and reads /console/stream for live numbers. The key
// lives in this tab's session storage; it may arrive in the URL fragment
// #auth=uuid:key, which browsers never send to a server.

import { lineChart, fmt } from "./chart.js";

const BASE = "/console";
const API = "/api/v1/namespaces/_";
const KEY = "whirl.auth";
const main = document.getElementById("main");
const live = document.getElementById("live");

// ---- key and theme ----

function takeFragmentKey() {
  const m = /^#auth=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(history.state, "", location.pathname + location.search);
  }
}
const authKey = () => sessionStorage.getItem(KEY);

function setTheme(t) {
  document.documentElement.dataset.theme = t;
  const b = document.getElementById("theme");
  b.setAttribute("aria-pressed", String(t === "dark"));
  b.textContent = t === "dark" ? "Light mode" : "Dark mode";
}

// ---- helpers ----

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== undefined && k !== null) e.append(k);
  return e;
}
const link = (href, text) => h("a", { href: BASE + href }, text);
const enc = (name) => name.split("/").map(encodeURIComponent).join("/");

async function api(path, opts = {}) {
  const headers = { Authorization: "Basic " + btoa(authKey() || ""), Accept: "application/json" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method: opts.method || "GET", headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: opts.signal });
  const text = await r.text();
  let body;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (r.status === 401) { logout("The key was refused: " + (body && body.error || r.status)); throw new Error("unauthorized"); }
  if (!r.ok && !opts.any) throw new Error((body && body.error) || ("HTTP " + r.status));
  return { status: r.status, body };
}

function errorBox(err) { return h("p", { class: "error", role: "alert" }, "Error: " + (err.message || err)); }
function when(ms) { return ms ? new Date(ms).toLocaleString() : "—"; }
function ann(rec, key) { const a = (rec.annotations || []).find((x) => x.key === key); return a ? a.value : undefined; }
function statusOf(rec) {
  const r = rec.response || {};
  if (r.success || r.status === "success") return "success";
  return r.status || (r.statusCode === 1 ? "application error" : r.statusCode === 2 ? "action developer error" : r.statusCode === 3 ? "whisk internal error" : "unknown");
}
function statusCell(s) {
  return h("span", { class: s === "success" ? "st-ok" : "st-bad" }, (s === "success" ? "✓ " : "✗ ") + s);
}
function startOf(rec) { return ann(rec, "initTime") !== undefined ? "cold" : (ann(rec, "kind") === "sequence" ? "—" : "warm"); }
function announce(msg) { live.textContent = msg; }

// ---- routing ----

let stopView = () => {};

function navigate(path, replace) {
  if (replace) history.replaceState({}, "", path); else history.pushState({}, "", path);
  render();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || !u.pathname.startsWith(BASE)) return;
  e.preventDefault();
  navigate(u.pathname + u.search);
});
window.addEventListener("popstate", () => render());

function render(first) {
  stopView();
  stopView = () => {};
  const rest = location.pathname.slice(BASE.length).replace(/^\/+/, "");
  const [section, ...more] = rest.split("/");
  const name = more.map(decodeURIComponent).join("/");
  for (const a of document.querySelectorAll("#nav a")) {
    const s = a.getAttribute("href").slice(BASE.length + 1);
    if (s === section) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  if (!authKey()) return showLogin();
  document.getElementById("logout").hidden = false;
  const views = { "": overview, actions: name === "new" ? () => editAction("") : name ? () => actionPage(name) : actionsPage,
    activations: name ? () => activationPage(name) : activationsPage, triggers: () => listPage("triggers"),
    rules: () => listPage("rules"), packages: () => listPage("packages"), apis: apisPage, pool: poolPage, edit: () => editAction(name) };
  const view = views[section] || (() => main.append(h("h1", { text: "Not found" }), h("p", { text: "No such page in the console." })));
  Promise.resolve(view()).catch((err) => { if (err.message !== "unauthorized") main.append(errorBox(err)); });
  // After a move inside the console, focus the new content (the first
  // page load leaves focus at the start, where Tab finds the skip link).
  if (!first) main.focus({ preventScroll: true });
}

// ---- log in ----

function showLogin(msg) {
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  document.title = "Log in · Whirl console";
  const input = h("input", { id: "key", name: "key", type: "password", autocomplete: "off", required: true, size: 60, placeholder: "uuid:key" });
  const form = h("form", { class: "login", onsubmit: (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    render();
    startStream();
  } },
  h("h1", { text: "Log in" }),
  msg ? h("p", { class: "error", role: "alert", text: msg }) : null,
  h("p", {}, "Paste your key (", h("code", { text: "whirl property get --auth" }), "), or run ", h("code", { text: "whirl console" }), ". It stays in this tab only."),
  h("div", { class: "row" }, h("label", { for: "key" }, "Key", input), h("button", { class: "primary", type: "submit" }, "Log in")));
  main.replaceChildren(form);
  input.focus();
}

function logout(msg) {
  sessionStorage.removeItem(KEY);
  stopView();
  stopStream();
  showLogin(msg);
}

// ---- the live stream ----

const stats = { ns: "", statuses: [], starts: [], points: new Map(), now: 0, pool: null, listeners: new Set() };
let streamAbort = null;

function stopStream() { if (streamAbort) streamAbort.abort(); streamAbort = null; }

async function startStream() {
  if (streamAbort || !authKey()) return;
  const ctl = new AbortController();
  streamAbort = ctl;
  try {
    const r = await fetch(BASE + "/stream", { headers: { Authorization: "Basic " + btoa(authKey()) }, signal: ctl.signal });
    if (r.status === 401) { streamAbort = null; logout("The key was refused."); return; }
    if (!r.ok) throw new Error("stream: HTTP " + r.status);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let ev = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) ev = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        onEvent(ev, JSON.parse(data));
      }
    }
  } catch (e) {
    if (ctl.signal.aborted) return;
  }
  if (streamAbort === ctl) { streamAbort = null; setTimeout(startStream, 2000); }
}

function onEvent(ev, d) {
  if (ev === "hello") {
    stats.ns = d.namespace; stats.statuses = d.statuses; stats.starts = d.starts; stats.now = d.now;
    for (const p of d.history) stats.points.set(p.t, p);
    document.getElementById("who").textContent = "namespace " + d.namespace;
  } else if (ev === "tick") {
    stats.points.set(d.t, d);
    stats.now = d.t;
    stats.inFlight = d.inFlight; stats.queuedAll = d.queuedAll;
    for (const t of stats.points.keys()) if (t <= d.t - 900) stats.points.delete(t);
  } else if (ev === "pool") {
    stats.pool = d;
  }
  for (const f of stats.listeners) f(ev);
}

function listen(f) { stats.listeners.add(f); return () => stats.listeners.delete(f); }

// ---- overview: live charts ----

let range = 60;

function overview() {
  document.title = "Overview · Whirl console";
  const charts = [
    [lineChart("Completions per second", ["blocking", "non-blocking"], "/s", "chart-completions"),
      (p) => [p.sync, p.async]],
    [lineChart("Latency", ["p50", "p99"], " ms", "chart-latency"), (p) => [p.p50 * 1000, p.p99 * 1000]],
    [lineChart("Starts per second", ["cold", "prewarm", "warm"], "/s", "chart-starts"), (p) => [p.starts[0], p.starts[1], p.starts[2]]],
    [lineChart("Errors per second", ["application", "developer", "whisk"], "/s", "chart-errors"), (p) => [p.status[1], p.status[2], p.status[3]]],
    [lineChart("Waiting and running", ["queued (yours)", "in flight (all)", "queued (all)"], "", "chart-load"), (p) => [p.queued, p.inFlight, p.queuedAll]],
  ];
  const zoom = h("div", { class: "row", role: "group", "aria-label": "Time range" }, "Show the last:",
    [[60, "1 minute"], [300, "5 minutes"], [900, "15 minutes"]].map(([s, label]) =>
      h("button", { type: "button", "aria-pressed": String(range === s), "data-range": s, onclick: (e) => {
        range = s;
        for (const b of zoom.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === e.currentTarget));
        draw();
      } }, label)));
  const poolLine = h("p", { id: "pool-summary", class: "muted" });
  main.append(h("h1", { text: "Overview" }), zoom, h("div", { class: "grid" }, charts.map(([c]) => c.figure)), h("h2", { text: "Pool" }), poolLine,
    h("p", {}, link("/activations", "Recent activations"), " · ", link("/actions", "Actions")));
  // Gauges carried by the latest tick apply to the seconds before it too.
  const gauges = new Map();
  function draw() {
    const to = stats.now || Math.floor(Date.now() / 1000) - 1, from = to - range;
    for (const [chart, pick] of charts) {
      const names = [...chart.figure.querySelectorAll(".legend li")].map((li) => li.textContent.split(":")[0].trim());
      const series = names.map((name) => ({ name, values: new Map() }));
      for (const [t, p] of stats.points) {
        if (t <= from) continue;
        const full = { sync: 0, async: 0, p50: 0, p99: 0, queued: 0, status: [0, 0, 0, 0], starts: [0, 0, 0, 0], inFlight: 0, queuedAll: 0, ...(gauges.get(t) || {}), ...p };
        pick(full).forEach((v, i) => series[i].values.set(t, v || 0));
      }
      chart.draw(series, from, to);
    }
    const pool = stats.pool;
    poolLine.textContent = pool ? `Memory ${pool.memoryUsedMB} of ${pool.memoryLimitMB} MB in use; ${pool.warm} warm, ${pool.busy} busy, ${pool.prewarm} stem cells. ` : "This server runs no container pool.";
  }
  const off = listen((ev) => {
    if (ev === "tick") gauges.set(stats.now, { inFlight: stats.inFlight, queuedAll: stats.queuedAll });
    draw();
  });
  stopView = off;
  draw();
}

// ---- actions ----

async function actionsPage() {
  document.title = "Actions · Whirl console";
  main.append(h("h1", { text: "Actions" }), h("p", {}, link("/actions/new", "Create an action")));
  const { body } = await api(API + "/actions?limit=200");
  if (!body.length) { main.append(h("p", { text: "No actions yet." })); return; }
  main.append(h("table", { id: "actions" }, h("thead", {}, h("tr", {}, ["Name", "Kind", "Version", "Updated"].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, body.map((a) => {
      const path = (a.namespace.includes("/") ? a.namespace.split("/").slice(1).join("/") + "/" : "") + a.name;
      return h("tr", {}, h("td", {}, link("/actions/" + enc(path), path)), h("td", { text: ann(a, "exec") || "" }),
        h("td", { text: a.version }), h("td", { text: when(a.updated) }));
    }))));
}

const KEYWORDS = /^(?:async|await|break|case|catch|class|const|continue|def|default|elif|else|except|export|finally|for|from|func|function|go|if|import|in|is|lambda|let|nil|None|not|null|package|pass|return|self|switch|this|throw|True|False|true|false|try|type|var|while|with|yield)$/;

// highlight renders source code with keywords, strings, numbers and
// comments marked (and styled by weight and slant, not only colour).
function highlight(code) {
  const pre = h("pre", { class: "code", tabindex: "0" });
  const re = /(\/\/[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/)|("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)|\b(\d+(?:\.\d+)?)\b|\b([A-Za-z_]\w*)\b/g;
  let last = 0, m;
  while ((m = re.exec(code))) {
    pre.append(code.slice(last, m.index));
    last = re.lastIndex;
    if (m[1]) pre.append(h("span", { class: "com", text: m[1] }));
    else if (m[2]) pre.append(h("span", { class: "str", text: m[2] }));
    else if (m[3]) pre.append(h("span", { class: "num", text: m[3] }));
    else if (KEYWORDS.test(m[4])) pre.append(h("span", { class: "kw", text: m[4] }));
    else pre.append(m[4]);
  }
  pre.append(code.slice(last));
  return pre;
}

async function actionPage(name) {
  document.title = name + " · Actions · Whirl console";
  const { body: a } = await api(API + "/actions/" + enc(name) + "?code=true");
  const exec = a.exec || {};
  main.append(h("h1", {}, "Action ", h("code", { text: name })),
    h("dl", { class: "kv" }, h("dt", { text: "Kind" }), h("dd", { text: exec.kind }), h("dt", { text: "Version" }), h("dd", { text: a.version }),
      h("dt", { text: "Limits" }), h("dd", { text: JSON.stringify(a.limits || {}) }), h("dt", { text: "Parameters" }), h("dd", { text: JSON.stringify(a.parameters || []) })),
    h("p", {}, link("/edit/" + enc(name), "Edit this action"), " · ", link("/activations?name=" + encodeURIComponent(name), "Its activations")));
  main.append(invokeForm(name));
  main.append(h("h2", { text: "Code" }));
  if (exec.kind === "sequence") main.append(h("p", {}, "A sequence of ", (exec.components || []).map((c, i) => [i ? " → " : "", h("code", { text: c })])));
  else if (exec.binary) main.append(h("p", { class: "muted", text: "Binary code (a zip archive) is not shown." }));
  else main.append(highlight(exec.code || ""));
}

function invokeForm(name) {
  const params = h("textarea", { id: "params", rows: 4, spellcheck: "false" });
  params.value = "{}";
  const blocking = h("input", { id: "blocking", type: "checkbox", checked: true });
  const out = h("div", { id: "invoke-result", "aria-live": "polite" });
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    out.replaceChildren(h("p", { text: "Invoking…" }));
    let body;
    try { body = JSON.parse(params.value || "{}"); } catch (err) { out.replaceChildren(errorBox("the parameters are not JSON: " + err.message)); return; }
    try {
      const r = await api(API + "/actions/" + enc(name) + "?blocking=" + blocking.checked, { method: "POST", body, any: true });
      const id = r.body && r.body.activationId;
      out.replaceChildren(h("p", {}, "HTTP " + r.status + (id ? " · activation " : ""), id ? link("/activations/" + id, id) : ""),
        h("pre", { text: JSON.stringify(r.body && r.body.response ? r.body.response.result : r.body, null, 2) }));
      announce("Invoked " + name + ": HTTP " + r.status);
    } catch (err) { out.replaceChildren(errorBox(err)); }
  } },
  h("h2", { text: "Invoke" }),
  h("label", { for: "params" }, "Parameters (JSON object)"), params,
  h("div", { class: "row" }, h("label", { class: "inline" }, h("span", {}, blocking, " Wait for the result (blocking)")),
    h("button", { class: "primary", type: "submit", id: "invoke" }, "Invoke")), out);
  return form;
}

async function editAction(name) {
  document.title = (name ? "Edit " + name : "New action") + " · Whirl console";
  let a = { exec: { kind: "nodejs:default", code: "function main(params) {\n  return { greeting: \"Hello, \" + (params.name || \"world\") };\n}\n" } };
  if (name) a = (await api(API + "/actions/" + enc(name) + "?code=true")).body;
  const nameIn = h("input", { id: "name", required: true, value: name, readonly: name ? true : undefined, pattern: "[A-Za-z0-9_@.\\-/ ]+" });
  const kind = h("input", { id: "kind", required: true, value: (a.exec || {}).kind || "" });
  const code = h("textarea", { id: "code", rows: 16, spellcheck: "false" });
  code.value = (a.exec || {}).code || "";
  code.addEventListener("keydown", (e) => {
    if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && code.dataset.tabs === "on") {
      e.preventDefault();
      code.setRangeText("  ", code.selectionStart, code.selectionEnd, "end");
    }
    if (e.key === "Escape") code.dataset.tabs = "off";
  });
  code.addEventListener("focus", () => { code.dataset.tabs = "on"; });
  const out = h("div", { "aria-live": "polite" });
  main.append(h("h1", { text: name ? "Edit " + name : "Create an action" }), h("form", { onsubmit: async (e) => {
    e.preventDefault();
    const n = nameIn.value.trim();
    const body = { exec: { kind: kind.value.trim(), code: code.value }, parameters: a.parameters, limits: a.limits, annotations: a.annotations };
    try {
      await api(API + "/actions/" + enc(n) + "?overwrite=true", { method: "PUT", body });
      navigate(BASE + "/actions/" + enc(n));
    } catch (err) { out.replaceChildren(errorBox(err)); }
  } },
  h("div", { class: "row" }, h("label", { for: "name" }, "Name", nameIn), h("label", { for: "kind" }, "Kind (e.g. nodejs:default, python:3)", kind)),
  h("label", { for: "code" }, "Code (Tab indents; press Escape, then Tab, to leave the editor)"), code,
  h("div", { class: "row" }, h("button", { class: "primary", type: "submit" }, name ? "Update" : "Create")), out));
}

// ---- activations ----

async function activationsPage() {
  document.title = "Activations · Whirl console";
  const q = new URLSearchParams(location.search);
  const name = h("input", { id: "f-name", value: q.get("name") || "", placeholder: "any action" });
  const sel = (id, opts, v) => h("select", { id }, opts.map(([val, label]) => h("option", { value: val, selected: v === val ? true : undefined }, label)));
  const status = sel("f-status", [["", "any status"], ["success", "success"], ["error", "any error"]], q.get("status") || "");
  const start = sel("f-start", [["", "cold or warm"], ["cold", "cold"], ["warm", "warm"]], q.get("start") || "");
  const tbody = h("tbody");
  const note = h("p", { class: "muted", "aria-live": "polite" });
  const apply = () => {
    const p = new URLSearchParams();
    if (name.value) p.set("name", name.value);
    if (status.value) p.set("status", status.value);
    if (start.value) p.set("start", start.value);
    history.replaceState({}, "", BASE + "/activations" + (p.toString() ? "?" + p : ""));
    load();
  };
  main.append(h("h1", { text: "Activations" }),
    h("form", { class: "row", role: "search", onsubmit: (e) => { e.preventDefault(); apply(); } },
      h("label", { for: "f-name" }, "Action", name), h("label", { for: "f-status" }, "Status", status), h("label", { for: "f-start" }, "Start", start),
      h("button", { type: "submit" }, "Filter")),
    note,
    h("table", { id: "activations" }, h("thead", {}, h("tr", {}, ["Activation", "Action", "Status", "Start", "Duration", "When"].map((c) => h("th", { scope: "col", text: c })))), tbody));
  status.addEventListener("change", apply);
  start.addEventListener("change", apply);
  let timer = 0, ctl = null;
  async function load() {
    clearTimeout(timer);
    if (ctl) ctl.abort();
    ctl = new AbortController();
    const p = new URLSearchParams({ limit: "50", docs: "true" });
    if (name.value) p.set("name", name.value);
    try {
      const { body } = await api(API + "/activations?" + p, { signal: ctl.signal });
      const rows = body.filter((r) => {
        const s = statusOf(r);
        if (status.value === "success" && s !== "success") return false;
        if (status.value === "error" && s === "success") return false;
        if (start.value && startOf(r) !== start.value) return false;
        return true;
      });
      tbody.replaceChildren(...rows.map((r) => h("tr", {}, h("td", {}, link("/activations/" + r.activationId, h("code", { text: r.activationId }))),
        h("td", { text: r.name }), h("td", {}, statusCell(statusOf(r))), h("td", { text: startOf(r) }),
        h("td", { text: (r.duration ?? (r.end - r.start)) + " ms" }), h("td", { text: when(r.start) }))));
      note.textContent = rows.length ? `${rows.length} shown, newest first; updated live.` : "No activations match.";
    } catch (err) {
      if (err.name === "AbortError") return;
      note.textContent = "Error: " + err.message;
    }
    timer = setTimeout(load, 2000);
  }
  stopView = () => { clearTimeout(timer); if (ctl) ctl.abort(); };
  await load();
}

async function activationPage(id) {
  document.title = "Activation " + id + " · Whirl console";
  const { body: r } = await api(API + "/activations/" + encodeURIComponent(id));
  const wait = Number(ann(r, "waitTime") || 0), init = Number(ann(r, "initTime") || 0);
  const dur = r.duration ?? (r.end - r.start);
  const run = Math.max(dur - init, 0), total = Math.max(wait + init + run, 1);
  const seg = (cls, label, ms) => h("span", { class: cls, style: undefined, title: `${label}: ${ms} ms`, "data-ms": ms }, `${label} ${ms} ms`);
  const tl = h("div", { class: "timeline", role: "img", "aria-label": `wait ${wait} ms, init ${init} ms, run ${run} ms` },
    seg("tl-wait", "wait", wait), init ? seg("tl-init", "init", init) : null, seg("tl-run", "run", run));
  for (const s of tl.children) s.style.flexGrow = String(Math.max(Number(s.dataset.ms) / total, 0.02));
  const isSeq = ann(r, "kind") === "sequence";
  main.append(h("h1", {}, "Activation ", h("code", { text: id })),
    h("dl", { class: "kv", id: "activation" },
      h("dt", { text: "Action" }), h("dd", {}, link("/actions/" + enc(String(ann(r, "path") || r.name).split("/").slice(1).join("/") || r.name), String(ann(r, "path") || r.name))),
      h("dt", { text: "Status" }), h("dd", {}, statusCell(statusOf(r))),
      h("dt", { text: "Start" }), h("dd", { text: startOf(r) }),
      h("dt", { text: "Began" }), h("dd", { text: when(r.start) }),
      h("dt", { text: "Duration" }), h("dd", { text: dur + " ms" })),
    h("h2", { text: "Timeline" }), tl,
    h("h2", { text: "Result" }), h("pre", { id: "result", tabindex: "0", text: JSON.stringify((r.response || {}).result, null, 2) }));
  if (isSeq) {
    main.append(h("h2", { text: "Components" }), h("ol", { id: "components" }, (r.logs || []).map((cid) => h("li", {}, link("/activations/" + cid, h("code", { text: cid }))))));
  } else {
    main.append(h("h2", { text: "Logs" }), h("pre", { id: "logs", tabindex: "0", text: (r.logs || []).join("\n") || "(none)" }));
  }
  main.append(h("h2", { text: "Annotations" }), h("table", {}, h("tbody", {}, (r.annotations || []).map((a) => h("tr", {}, h("th", { scope: "row", text: a.key }), h("td", {}, h("code", { text: JSON.stringify(a.value) })))))));
}

// ---- triggers, rules, packages, APIs ----

async function listPage(coll) {
  const title = coll[0].toUpperCase() + coll.slice(1);
  document.title = title + " · Whirl console";
  main.append(h("h1", { text: title }));
  const { body } = await api(API + "/" + coll + "?limit=200");
  if (!body.length) { main.append(h("p", { text: `No ${coll} yet.` })); return; }
  const cols = { triggers: ["Name", "Version", "Updated"], rules: ["Name", "Trigger", "Action", "Status"], packages: ["Name", "Binding", "Published", "Version"] }[coll];
  const cells = {
    triggers: (x) => [x.name, x.version, when(x.updated)],
    rules: (x) => [x.name, typeof x.trigger === "object" ? x.trigger.path + "/" + x.trigger.name : x.trigger, typeof x.action === "object" ? x.action.path + "/" + x.action.name : x.action, x.status || ""],
    packages: (x) => [x.name, x.binding && x.binding.name ? x.binding.namespace + "/" + x.binding.name : "—", x.publish ? "yes" : "no", x.version],
  }[coll];
  main.append(h("table", { id: coll }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, body.map((x) => h("tr", {}, cells(x).map((v) => h("td", { text: v ?? "" })))))));
}

async function apisPage() {
  document.title = "APIs · Whirl console";
  main.append(h("h1", { text: "APIs" }));
  const { body } = await api("/api/v1/web/whisk.system/apimgmt/getApi.http");
  const apis = (body && body.apis) || [];
  if (!apis.length) { main.append(h("p", { text: "No APIs yet (whirl api create)." })); return; }
  const rows = [];
  for (const item of apis) {
    const v = item.value || item;
    const doc = v.apidoc || {};
    for (const [rel, ops] of Object.entries(doc.paths || {})) {
      for (const verb of Object.keys(ops)) {
        const url = String(v.gwApiUrl || "").replace(/\/$/, "") + rel;
        rows.push(h("tr", {}, h("td", { text: (doc.info && doc.info.title) || doc.basePath }), h("td", { text: verb.toUpperCase() }),
          h("td", {}, h("code", { text: url })),
          h("td", {}, h("button", { type: "button", "aria-label": "Copy " + url, onclick: async () => {
            try { await navigator.clipboard.writeText(url); announce("Copied " + url); } catch { announce("Copy failed: select the URL and copy it."); }
          } }, "Copy"))));
      }
    }
  }
  main.append(h("table", { id: "apis" }, h("thead", {}, h("tr", {}, ["API", "Verb", "URL", ""].map((c) => h("th", { scope: "col", text: c })))), h("tbody", {}, rows)));
}

// ---- the pool ----

function poolPage() {
  document.title = "Pool · Whirl console";
  const box = h("div", { id: "pool" });
  main.append(h("h1", { text: "Container pool" }), box);
  function draw() {
    const p = stats.pool;
    if (!p) { box.replaceChildren(h("p", { text: "This server runs no container pool (a scale-out controller), or it has not reported yet." })); return; }
    const pct = p.memoryLimitMB ? Math.round((100 * p.memoryUsedMB) / p.memoryLimitMB) : 0;
    box.replaceChildren(
      h("p", { text: `Memory in use: ${p.memoryUsedMB} of ${p.memoryLimitMB} MB (${pct}%), whole pool.` }),
      h("div", { class: "bar", role: "meter", "aria-valuemin": 0, "aria-valuemax": p.memoryLimitMB, "aria-valuenow": p.memoryUsedMB, "aria-label": "Memory in use" }, h("span", { style: undefined })),
      h("dl", { class: "kv" }, h("dt", { text: "Warm (idle), all" }), h("dd", { text: p.warm }), h("dt", { text: "Busy, all" }), h("dd", { text: p.busy }),
        h("dt", { text: "Stem cells ready" }), h("dd", { text: p.prewarm }), h("dt", { text: "Stem cells starting" }), h("dd", { text: p.prewarmStarting }),
        h("dt", { text: "Waiting for room" }), h("dd", { text: p.queued })),
      h("h2", { text: "Your actions' containers" }),
      p.actions.length ? h("table", { id: "pool-actions" }, h("thead", {}, h("tr", {}, ["Action", "Warm", "Busy", "Version"].map((c) => h("th", { scope: "col", text: c })))),
        h("tbody", {}, p.actions.map((a) => h("tr", {}, h("td", {}, link("/actions/" + enc(a.action), a.action)), h("td", { text: a.warm }), h("td", { text: a.busy }), h("td", {}, h("code", { text: a.version })))))) :
        h("p", { text: "None of your actions has a container now." }));
    box.querySelector(".bar span").style.width = pct + "%";
  }
  stopView = listen((ev) => { if (ev === "pool") draw(); });
  draw();
}

// ---- start ----

takeFragmentKey();
setTheme(localStorage.getItem("whirl.theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
document.getElementById("theme").addEventListener("click", () => {
  const t = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem("whirl.theme", t);
  setTheme(t);
});
document.getElementById("logout").addEventListener("click", () => logout());
render(true);
if (authKey()) startStream();
