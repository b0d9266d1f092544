/* Shipyard web UI: charts (uPlot), sortable tables, and the CSRF token for mutations.
   No framework and no build step: pages are rendered by the server; this file draws what
   a page declares with data-* attributes. */
"use strict";

const Shipyard = (() => {
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  /* fetch JSON from this server; mutations carry the CSRF token */
  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.message || response.statusText);
    return data;
  }

  function readJson(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  /* exponential moving average, TensorBoard-style (weight 0..0.99) */
  function smooth(values, weight) {
    if (!weight) return values;
    let last = null;
    return values.map((v) => {
      if (v === null || v === undefined || Number.isNaN(v)) return v;
      last = last === null ? v : last * weight + (1 - weight) * v;
      return last;
    });
  }

  function widthOf(el) {
    return Math.max(280, el.clientWidth || el.parentElement.clientWidth || 600);
  }

  /* spec: {x: [...], series: [{label, y: [...]}], xLabel, yLabel, time: bool, bars: bool} */
  function chart(el, spec) {
    if (typeof uPlot === "undefined") return null;
    const weight = Number(el.dataset.smoothing || 0);
    const series = [{ label: spec.xLabel || "step" }];
    const data = [spec.x];
    spec.series.forEach((s, i) => {
      const color = s.color || palette[i % palette.length];
      const one = { label: s.label, stroke: color, width: 1.5, spanGaps: true };
      if (spec.bars) {
        one.fill = color + "66";
        one.paths = uPlot.paths.bars({ size: [0.9, 60] });
        one.points = { show: false };
      }
      series.push(one);
      data.push(smooth(s.y, weight));
    });
    const opts = {
      width: widthOf(el),
      height: Number(el.dataset.height || 260),
      scales: { x: { time: Boolean(spec.time) } },
      axes: [{ label: spec.xLabel || "" }, { label: spec.yLabel || "" }],
      cursor: { drag: { x: true, y: false } },
      series,
    };
    el.innerHTML = "";
    const plot = new uPlot(opts, data, el);
    el.dataset.rendered = "true";
    el._plot = plot;
    el._spec = spec;
    return plot;
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach((el) => {
      const spec = readJson(el.dataset.chart);
      if (spec) chart(el, spec);
    });
  }

  /* a range input with data-smoothing-for="c1 c2" re-draws those charts smoothed: the
     charts drawn from data c1 and c2, or every chart with data-chart-group="c1" */
  function wireSmoothing() {
    document.querySelectorAll("[data-smoothing-for]").forEach((input) => {
      input.addEventListener("input", () => {
        input.dataset.smoothingFor.split(/\s+/).forEach((id) => {
          const target = CSS.escape(id);
          document.querySelectorAll(`[data-chart-group="${target}"], [data-chart="${target}"]`).forEach((el) => {
            el.dataset.smoothing = input.value;
            if (el._spec) chart(el, el._spec);
          });
        });
      });
    });
  }

  /* click a header of a table[data-sortable] to sort its rows by that column */
  function wireSortableTables() {
    document.querySelectorAll("table[data-sortable]").forEach((table) => {
      table.querySelectorAll("th").forEach((th, index) => {
        th.classList.add("sortable");
        th.addEventListener("click", () => {
          const body = table.tBodies[0];
          const rows = Array.from(body.rows);
          const ascending = th.dataset.dir !== "asc";
          table.querySelectorAll("th").forEach((h) => delete h.dataset.dir);
          th.dataset.dir = ascending ? "asc" : "desc";
          const key = (row) => {
            const cell = row.cells[index];
            const raw = cell ? (cell.dataset.value ?? cell.textContent.trim()) : "";
            const n = Number(raw);
            return raw !== "" && !Number.isNaN(n) ? n : raw.toLowerCase();
          };
          rows.sort((a, b) => {
            const ka = key(a), kb = key(b);
            return (ka > kb ? 1 : ka < kb ? -1 : 0) * (ascending ? 1 : -1);
          });
          rows.forEach((r) => body.appendChild(r));
        });
      });
    });
  }

  /* forms with data-confirm ask first */
  function wireConfirm() {
    document.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      document.querySelectorAll("[data-rendered]").forEach((el) => {
        if (el._plot) el._plot.setSize({ width: widthOf(el), height: el._plot.height });
      });
    }, 150);
  });

  document.addEventListener("DOMContentLoaded", () => {
    drawAll();
    wireSmoothing();
    wireSortableTables();
    wireConfirm();
  });

  return { api, chart, csrf, drawAll, palette, readJson, smooth };
})();
window.Shipyard = Shipyard;
