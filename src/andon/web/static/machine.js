// One machine's trends: a uPlot chart per tag, zoomable from an hour to a year. Every range
// is fetched from the historian with a bucket width that brings back 1000-2000 points; while
// the view ends at now, live samples from the stream are folded into the newest bucket.
"use strict";
(function () {
  const root = document.getElementById("machine");
  if (!root || !window.uPlot) return;
  const asset = root.dataset.path;
  const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 172800, 604800];
  const MAX_POINTS = 2000;
  const RANGES = { "1h": 3600, "8h": 28800, "24h": 86400, "7d": 604800, "30d": 2592000,
    "90d": 7776000, "365d": 31536000 };
  const output = document.getElementById("range");
  const live = document.getElementById("live");
  const charts = [];
  let view = { from: 0, to: 0, every: 60, follow: true, range: "8h" };
  let applying = false; // true while we move scales ourselves (not a user's zoom)
  let generation = 0;
  let zoomTimer = null;

  function everyFor(spanS) {
    for (const s of STEPS) if (spanS / s <= MAX_POINTS) return s;
    return STEPS[STEPS.length - 1];
  }
  function iso(sec) { return new Date(sec * 1000).toISOString(); }
  function num(v) { return typeof v === "number" ? v : null; }

  async function history(tag, from, to, every) {
    const query = new URLSearchParams({ from: iso(from), to: iso(to), every: every + "s" });
    const response = await fetch("/api/v1/tags/" + tag + "/history?" + query, {
      credentials: "same-origin", headers: { Accept: "application/json", "X-Andon-Background": "1" } });
    if (response.status === 401) { window.location.reload(); return null; }
    if (!response.ok) return null;
    const h = await response.json();
    return [h.ts.map(function (t) { return Date.parse(t) / 1000; }),
      h.value.map(num), h.min.map(num), h.max.map(num)];
  }

  function show() {
    output.dataset.from = iso(view.from);
    output.dataset.to = iso(view.to);
    output.dataset.every = String(view.every);
    output.textContent = iso(view.from).slice(0, 16).replace("T", " ") + " → " +
      iso(view.to).slice(0, 16).replace("T", " ") + " UTC, one point per " + view.every + " s";
  }

  function place(chart, data) {
    applying = true; // batch: commit now, so the setScale hook sees the flag
    try {
      chart.plot.batch(function (u) {
        u.setData(data, false);
        u.setScale("x", { min: view.from, max: view.to });
      });
    } finally { applying = false; }
  }

  function refreshTimeline() {
    if (!window.htmx) return;
    const query = new URLSearchParams({ asset: asset, from: iso(view.from), to: iso(view.to) });
    window.htmx.ajax("GET", "/machine/timeline?" + query,
      { target: "#timeline", swap: "innerHTML", headers: { "X-Andon-Background": "1" } });
  }

  async function load() {
    const mine = ++generation;
    view.every = everyFor(view.to - view.from);
    show();
    refreshTimeline();
    const found = await Promise.all(charts.map(function (c) {
      return history(c.tag, view.from, view.to, view.every);
    }));
    if (mine !== generation) return; // a newer range was asked for meanwhile
    charts.forEach(function (c, i) {
      c.data = found[i] || [[], [], [], []];
      place(c, c.data);
    });
    root.dataset.loaded = String(mine);
  }

  function setRange(name) {
    const now = Date.now() / 1000;
    view = { from: now - RANGES[name], to: now, every: view.every, follow: true, range: name };
    for (const b of document.querySelectorAll(".ranges button")) {
      b.setAttribute("aria-pressed", b.dataset.range === name ? "true" : "false");
    }
    load();
  }

  function zoomed(min, max) {
    if (!(max > min)) return;
    view = { from: min, to: max, every: view.every, follow: false, range: view.range };
    for (const c of charts) {
      applying = true;
      try {
        c.plot.batch(function (u) { u.setScale("x", { min: min, max: max }); });
      } finally { applying = false; }
    }
    for (const b of document.querySelectorAll(".ranges button")) b.setAttribute("aria-pressed", "false");
    clearTimeout(zoomTimer);
    zoomTimer = setTimeout(load, 150);
  }

  function makeChart(figure) {
    const box = figure.querySelector(".chart");
    const unit = figure.dataset.unit || "";
    const opts = {
      width: Math.max(300, box.clientWidth), height: 170,
      cursor: { sync: { key: "machine" }, drag: { x: true, y: false, setScale: true },
        bind: { dblclick: function () { return null; } } },
      scales: { x: { time: true } },
      legend: { show: false },
      axes: [{ stroke: "#9aa4b1", grid: { stroke: "#2a3038" } },
        { stroke: "#9aa4b1", grid: { stroke: "#2a3038" }, size: 60, label: unit }],
      series: [{}, { label: "avg", stroke: "#8cc4ff", width: 1.5, spanGaps: false },
        { label: "min", stroke: "rgba(140,196,255,.25)", width: 1 },
        { label: "max", stroke: "rgba(140,196,255,.25)", width: 1 }],
      bands: [{ series: [3, 2], fill: "rgba(140,196,255,.12)" }],
      hooks: { setScale: [function (u, key) {
        if (key === "x" && !applying) zoomed(u.scales.x.min, u.scales.x.max);
      }] },
    };
    const chart = { tag: figure.dataset.tag, data: [[], [], [], []], pending: null, dirty: false };
    chart.plot = new window.uPlot(opts, chart.data, box);
    chart.plot.over.addEventListener("dblclick", function () { setRange(view.range); });
    charts.push(chart);
  }

  function fold(chart, ts, value) {
    // Fold one live sample into its bucket (running mean, min, max).
    const bucket = Math.floor(ts / view.every) * view.every;
    const d = chart.data;
    const n = d[0].length;
    if (n && d[0][n - 1] === bucket && chart.pending) {
      const p = chart.pending;
      p.count += 1; p.sum += value;
      d[1][n - 1] = p.sum / p.count;
      d[2][n - 1] = Math.min(d[2][n - 1] ?? value, value);
      d[3][n - 1] = Math.max(d[3][n - 1] ?? value, value);
    } else if (!n || bucket > d[0][n - 1]) {
      d[0].push(bucket); d[1].push(value); d[2].push(value); d[3].push(value);
      chart.pending = { count: 1, sum: value };
    }
    chart.dirty = true;
  }

  function follow() {
    if (!view.follow) return;
    const now = Date.now() / 1000;
    const span = view.to - view.from;
    view.to = Math.max(now, view.to);
    view.from = view.to - span;
    for (const c of charts) {
      if (!c.dirty) continue;
      c.dirty = false;
      const d = c.data;
      let cut = 0;
      while (cut < d[0].length && d[0][cut] < view.from) cut++;
      if (cut) for (const column of d) column.splice(0, cut);
      place(c, d);
    }
  }

  let eventsTimer = null;
  function onEvent(message) {
    const e = JSON.parse(message.data);
    if (e.kind === "state" && view.follow) refreshTimeline();
    if (eventsTimer === null && window.htmx) {
      eventsTimer = setTimeout(function () {
        eventsTimer = null;
        window.htmx.trigger(document.getElementById("events"), "refresh");
      }, 2000);
    }
  }

  function connect() {
    if (!window.EventSource) return;
    const source = new EventSource("/api/v1/stream?pattern=" + encodeURIComponent(asset + "/#"));
    const byTag = new Map(charts.map(function (c) { return [c.tag, c]; }));
    source.addEventListener("open", function () { live.dataset.live = "on"; live.textContent = "live"; });
    source.addEventListener("error", function () { live.dataset.live = "polling"; live.textContent = "reconnecting"; });
    source.addEventListener("sample", function (message) {
      if (!view.follow) return;
      const s = JSON.parse(message.data);
      const chart = byTag.get(s.tag);
      if (chart && typeof s.value === "number") fold(chart, Date.parse(s.ts) / 1000, s.value);
    });
    source.addEventListener("event", onEvent);
  }

  for (const figure of root.querySelectorAll(".trend")) makeChart(figure);
  for (const b of document.querySelectorAll(".ranges button")) {
    b.addEventListener("click", function () { setRange(b.dataset.range); });
  }
  window.addEventListener("resize", function () {
    for (const c of charts) {
      const box = c.plot.root.parentElement;
      c.plot.setSize({ width: Math.max(300, box.clientWidth), height: 170 });
    }
  });
  window.andonTrends = { // for people at the console, and for the browser tests
    zoom: zoomed, range: setRange, view: function () { return Object.assign({}, view); },
  };
  setRange("8h");
  setInterval(follow, 1000);
  connect();
})();
