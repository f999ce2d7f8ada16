// chart.js: small SVG line charts over time, drawn by hand. Series are
// told apart by colour and by dash pattern, and named in a legend, so that
// a chart reads without colour too.

const NS = "http://www.w3.org/2000/svg";
const DASHES = ["", "6 3", "2 3", "10 3 2 3"];
const COLOURS = ["var(--s1)", "var(--s2)", "var(--s3)", "var(--s4)"];

function el(name, attrs) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

// lineChart returns {figure, draw(series, from, to)}: series is a list of
// {name, values: Map(second -> number)}; from and to are Unix seconds.
export function lineChart(title, names, unit, id) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.id = id;
  const cap = document.createElement("figcaption");
  cap.textContent = title;
  figure.append(cap);
  const legend = document.createElement("ul");
  legend.className = "legend";
  names.forEach((n, i) => {
    const li = document.createElement("li");
    const sw = el("svg", { viewBox: "0 0 28 10", "aria-hidden": "true" });
    sw.append(el("line", { x1: 0, y1: 5, x2: 28, y2: 5, stroke: COLOURS[i % 4], "stroke-width": 3, "stroke-dasharray": DASHES[i % 4] }));
    const val = document.createElement("span");
    val.className = "val";
    li.append(sw, " " + n + ": ", val);
    legend.append(li);
  });
  const svg = el("svg", { viewBox: "0 0 400 140", preserveAspectRatio: "none", role: "img" });
  figure.append(svg, legend);

  function draw(series, from, to) {
    const W = 400, H = 140, L = 46, B = 16, T = 6;
    let max = 0, sum = 0;
    for (const s of series) for (const [t, v] of s.values) if (t > from && t <= to) { max = Math.max(max, v); sum += v; }
    const top = niceMax(max);
    svg.replaceChildren();
    svg.append(el("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }));
    svg.append(el("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
    const lbl = (x, y, s, anchor) => { const t = el("text", { x, y, class: "axis-text", "text-anchor": anchor || "end" }); t.textContent = s; svg.append(t); };
    lbl(L - 3, T + 8, fmt(top) + unit);
    lbl(L - 3, H - B, "0");
    lbl(L, H - 3, "-" + span(to - from), "start");
    lbl(W - 2, H - 3, "now");
    const x = (t) => L + ((t - from) / (to - from)) * (W - L);
    const y = (v) => H - B - (v / top) * (H - B - T);
    const summary = [];
    series.forEach((s, i) => {
      const pts = [];
      for (let t = from + 1; t <= to; t++) pts.push(x(t).toFixed(1) + "," + y(s.values.get(t) || 0).toFixed(1));
      svg.append(el("polyline", { points: pts.join(" "), fill: "none", stroke: COLOURS[i % 4], "stroke-width": 2,
        "stroke-dasharray": DASHES[i % 4], "vector-effect": "non-scaling-stroke" }));
      const last = s.values.get(to) || 0;
      legend.children[i].querySelector(".val").textContent = fmt(last) + unit;
      summary.push(s.name + " " + fmt(last) + unit);
    });
    svg.setAttribute("aria-label", title + ", last second: " + summary.join(", "));
    figure.dataset.sum = String(sum);
  }
  return { figure, draw };
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function fmt(v) {
  if (v === 0) return "0";
  if (Math.abs(v) >= 100) return Math.round(v).toString();
  if (Math.abs(v) >= 1) return (Math.round(v * 10) / 10).toString();
  return v.toPrecision(2);
}

function span(s) { return s >= 60 ? Math.round(s / 60) + "m" : s + "s"; }
