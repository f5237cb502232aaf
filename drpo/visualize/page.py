"""tree.html: one self-contained page (no CDN, no network) for a run's search tree.

The data travels as JSON inside a non-executable script element, with every ``<``, ``>``
and ``&`` written as a unicode escape; the page's own code puts text into the document with
``textContent`` only. So an LLM output holding ``</script>``, HTML attributes or
``javascript:`` URLs shows as text and runs nothing.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from drpo.visualize.charts import charts


def embed_json(data: Any) -> str:
    """JSON that is safe inside <script type="application/json">."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(char, code)
    return text


STYLE = """
body { font: 14px system-ui, sans-serif; margin: 0; color: #222; }
header { padding: 8px 16px; background: #f4f4f6; border-bottom: 1px solid #ddd; }
header h1 { font-size: 18px; margin: 0 0 4px 0; }
.meta { color: #555; font-size: 12px; }
main { display: flex; height: 70vh; }
#tree-wrap { flex: 2; position: relative; border-right: 1px solid #ddd; overflow: hidden; }
#tree { width: 100%; height: 100%; cursor: grab; background: #fff; }
#tree .edge { stroke: #bbb; stroke-width: 1.2; }
#tree .edge.best { stroke: #d62728; stroke-width: 3; }
#tree .node circle { fill: #8aa8d8; stroke: #456; stroke-width: 1; cursor: pointer; }
#tree .node.best circle { fill: #d62728; stroke: #800; }
#tree .node.unexpanded circle { fill: #eee; }
#tree .node.selected circle { stroke: #000; stroke-width: 3; }
#tree .edge-label { fill: #333; paint-order: stroke; stroke: #fff; stroke-linejoin: round;
  dominant-baseline: middle; }
#tree.no-labels .edge-label { display: none; }
#label-hint { position: absolute; bottom: 6px; left: 6px; font-size: 12px; color: #666; }
#controls { position: absolute; top: 6px; left: 6px; }
#details { flex: 1; padding: 10px 14px; overflow: auto; }
#details h2 { font-size: 15px; margin: 4px 0; }
#details .field { margin: 6px 0; }
#details .name { font-weight: 600; color: #444; }
#details pre { white-space: pre-wrap; word-break: break-word; background: #f8f8f8;
  padding: 6px; margin: 2px 0; max-height: 300px; overflow: auto; }
#details table { border-collapse: collapse; }
#details td, #details th { border: 1px solid #ddd; padding: 2px 6px; vertical-align: top; }
.ins { background: #d4f7d4; } .del { background: #f9d0d0; text-decoration: line-through; }
#charts { display: flex; flex-wrap: wrap; gap: 12px; padding: 12px 16px; }
.chart figcaption { font-weight: 600; }
.chart svg text { font-size: 11px; fill: #333; }
"""

SCRIPT = r"""
(function () {
  const t0 = performance.now();
  const data = JSON.parse(document.getElementById("tree-data").textContent);
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.getElementById("tree");
  // Spacing from the panel's size, so that a whole tree of a usual size fits at a scale
  // where each node's reward label (beside the node, as wide as about 40 screen pixels)
  // stays clear of its siblings'; the labels keep one screen size at every zoom.
  const W = svg.clientWidth || 800, H = svg.clientHeight || 600;
  const DX = Math.min(140, Math.max(48, W / (data.width + 1)));
  const DY = Math.min(90, Math.max(24, H / (data.height + 0.5)));
  const R = 7, LABEL_PX = 12, LABEL_ROOM_PX = 40;
  const layer = document.createElementNS(NS, "g");
  svg.appendChild(layer);
  const byId = new Map(data.nodes.map(n => [n.id, n]));
  const px = n => n.x * DX, py = n => n.depth * DY;
  const labelEdges = data.nodes.length <= 300;
  const el = (tag, attrs, parent) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    parent.appendChild(e);
    return e;
  };
  for (const n of data.nodes) {
    if (n.parent === null) continue;
    const p = byId.get(n.parent);
    const best = n.best && p.best;
    el("line", {x1: px(p), y1: py(p), x2: px(n), y2: py(n),
                class: "edge" + (best ? " best" : "")}, layer);
    if (labelEdges && n.reward !== null) {  // the node's reward, beside it on the right
      const t = el("text", {x: px(n) + R + 2, y: py(n), class: "edge-label"}, layer);
      t.textContent = n.reward.toFixed(2);
    }
  }
  let selected = null;
  for (const n of data.nodes) {
    const cls = "node" + (n.best ? " best" : "") + (n.details.unexpanded ? " unexpanded" : "");
    const g = el("g", {class: cls, "data-id": String(n.id),
                       transform: `translate(${px(n)},${py(n)})`}, layer);
    el("circle", {r: R}, g);
    const title = el("title", {}, g);
    title.textContent = `node ${n.id}  reward ${n.reward === null ? "-" : n.reward.toFixed(3)}\n${n.label}`;
    g.addEventListener("click", ev => {
      ev.stopPropagation();
      if (selected) selected.classList.remove("selected");
      selected = g;
      g.classList.add("selected");
      show(n);
    });
  }

  // zoom and pan on the viewBox
  const width = Math.max(1, data.width) * DX, height = Math.max(1, data.height) * DY;
  let view = {x: -DX, y: -DY / 2, w: width + DX, h: height + DY / 2};
  const labels = layer.getElementsByClassName("edge-label");
  const hint = document.getElementById("label-hint");
  const apply = () => {
    svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
    const scale = Math.min(W / view.w, H / view.h);  // screen pixels per unit
    for (const t of labels) {
      t.setAttribute("font-size", LABEL_PX / scale);
      t.setAttribute("stroke-width", 3 / scale);
    }
    const room = DX * scale >= LABEL_ROOM_PX;  // labels would overlap their siblings'
    svg.classList.toggle("no-labels", !room);
    hint.textContent = labels.length && !room ? "zoom in (+ or the wheel) to read the rewards" : "";
  };
  apply();
  svg.addEventListener("wheel", ev => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    const fx = (ev.clientX - r.left) / r.width, fy = (ev.clientY - r.top) / r.height;
    const k = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
    const nw = view.w * k, nh = view.h * k;
    view = {x: view.x + (view.w - nw) * fx, y: view.y + (view.h - nh) * fy, w: nw, h: nh};
    apply();
  }, {passive: false});
  let drag = null;
  svg.addEventListener("mousedown", ev => { drag = {x: ev.clientX, y: ev.clientY, v: {...view}}; });
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", ev => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    view = {...drag.v, x: drag.v.x - (ev.clientX - drag.x) * view.w / r.width,
            y: drag.v.y - (ev.clientY - drag.y) * view.h / r.height};
    apply();
  });
  document.getElementById("zoom-in").onclick = () => { view = {x: view.x + view.w * 0.1,
    y: view.y + view.h * 0.1, w: view.w * 0.8, h: view.h * 0.8}; apply(); };
  document.getElementById("zoom-out").onclick = () => { view = {x: view.x - view.w * 0.125,
    y: view.y - view.h * 0.125, w: view.w * 1.25, h: view.h * 1.25}; apply(); };
  document.getElementById("zoom-fit").onclick = () => {
    view = {x: -DX, y: -DY / 2, w: width + DX, h: height + DY / 2}; apply(); };

  // the details panel: text only, never markup
  const panel = document.getElementById("details");
  const add = (tag, text, parent, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    (parent || panel).appendChild(e);
    return e;
  };
  // numbers as a reader wants them: at most 3 decimals (4.472, not 4.472222222222223)
  const round = v => typeof v === "number" && !Number.isInteger(v) ? +v.toFixed(3) : v;
  const field = (name, value, pre) => {
    if (value === undefined || value === null || value === "") return null;
    const box = add("div", null, panel, "field");
    add("span", name + ": ", box, "name");
    const text = typeof value === "object" ? JSON.stringify(value, (k, v) => round(v), 1) : round(value);
    return add(pre ? "pre" : "span", text, box);
  };
  function show(n) {
    const d = n.details;
    panel.replaceChildren();
    add("h2", `Node ${d.id} (depth ${d.depth})` + (n.best ? " - on the best path" : ""));
    field("reward", d.reward);
    field("path value", d.path_value);
    if (d.visits) { field("visits", d.visits); field("Q", d.q); }
    if (d.unexpanded) add("p", "Proposed but never stepped (no state yet).");
    field("query", d.query, true);
    field("error", d.error, true);
    if (d.prompt) {
      const box = add("div", null, panel, "field");
      add("span", "prompt: ", box, "name");
      const pre = add("pre", null, box, "prompt");
      const short = d.prompt.length > 300;
      pre.textContent = short ? d.prompt.slice(0, 300) + " ..." : d.prompt;
      if (short) {
        const b = add("button", "expand", box, "expand");
        b.onclick = () => {
          const open = b.textContent === "expand";
          pre.textContent = open ? d.prompt : d.prompt.slice(0, 300) + " ...";
          b.textContent = open ? "collapse" : "expand";
        };
      }
    }
    if (d.unchanged) field("change from the parent's prompt", "none (the same prompt as the parent's)");
    if (d.diff && d.diff.length) {
      const box = add("div", null, panel, "field");
      add("span", "change from the parent's prompt: ", box, "name");
      const pre = add("pre", null, box, "diff");
      for (const [op, text] of d.diff) add("span", text, pre, op === "same" ? "" : op);
    }
    if (d.aspects.length || Object.keys(d.scores).length) {
      const table = add("table", null, panel, "scores");
      const head = add("tr", null, table);
      for (const h of ["aspect", "score", "rationale"]) add("th", h, head);
      const names = d.aspects.length ? d.aspects : Object.keys(d.scores);
      for (const a of names) {
        const row = add("tr", null, table);
        add("td", a, row); add("td", d.scores[a] ?? "-", row); add("td", d.rationales[a] ?? "", row);
      }
    }
    field("base model output", d.output, true);
    field("action", d.action, true);
    for (const [k, v] of Object.entries(d.other)) field(k, v, true);
    field("reward details", d.reward_details, true);
  }
  const root = data.nodes.find(n => n.parent === null);
  if (root) show(byId.get(data.best_path[data.best_path.length - 1]) || root);
  window.__renderMs = performance.now() - t0;
  document.body.setAttribute("data-rendered", "1");
})();
"""


def render_page(data: dict[str, Any]) -> str:
    """The whole page for `page_data(record)`."""
    meta = data.get("meta") or {}
    simulated = (
        "<strong>Simulated LLM: these results are simulated.</strong> "
        if meta.get("simulated")
        else ""
    )
    facts = ", ".join(
        f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}"
        for k, v in meta.items()
        if not isinstance(v, (dict, list))
    )
    value = data["cum_reward"]
    value = f"{value:.4g}" if isinstance(value, float) else str(value)
    if data.get("value_note"):
        value += f" ({data['value_note']})"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{escape(data["title"])}</title>
<style>{STYLE}</style></head>
<body>
<header><h1>{escape(data["title"])}</h1>
<div class="meta">{simulated}{len(data["nodes"])} nodes; best path value {escape(value)}; {escape(facts)}</div></header>
<main>
<div id="tree-wrap"><div id="controls"><button id="zoom-in">+</button><button id="zoom-out">-</button><button id="zoom-fit">fit</button></div>
<svg id="tree" xmlns="http://www.w3.org/2000/svg"></svg><div id="label-hint"></div></div>
<aside id="details"></aside>
</main>
<section id="charts">{charts(data["series"])}</section>
<script type="application/json" id="tree-data">{embed_json(data)}</script>
<script>{SCRIPT}</script>
</body></html>
"""
