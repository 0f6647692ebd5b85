// The andon board, live: state and part events from the API's stream update the tiles in
// place; while the stream is down the tiles fragment is re-fetched (HTMX) every few seconds.
"use strict";
(function () {
  const board = document.getElementById("board");
  if (!board) return;
  const live = document.getElementById("live");
  const POLL_MS = 5000;
  const RESYNC_MS = 60000;
  let pollTimer = null;

  function tiles() { return document.getElementById("tiles"); }
  function tileOf(asset) {
    for (const t of document.querySelectorAll(".tile")) if (t.dataset.path === asset) return t;
    return null;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }

  function tick() {
    const now = Date.now();
    for (const t of document.querySelectorAll(".tile[data-since]")) {
      if (!t.dataset.since) continue;
      const since = Date.parse(t.dataset.since);
      if (!Number.isNaN(since)) t.querySelector(".since").textContent = duration((now - since) / 1000);
    }
  }

  function category(state) {
    if (state === "running" || state === "micro_stop") return "running";
    if (state === "idle" || state === "starved" || state === "blocked") return "idle";
    if (state === "setup" || state === "down" || state === "planned_stop") return state;
    return "unknown";
  }

  function flash(t) {
    t.classList.add("flash");
    setTimeout(function () { t.classList.remove("flash"); }, 600);
  }

  function onEvent(message) {
    const e = JSON.parse(message.data);
    const t = tileOf(e.asset);
    if (!t) return;
    if (e.kind === "state" && e.payload && e.payload.state) {
      const state = String(e.payload.state);
      for (const c of Array.from(t.classList)) {
        if (c.startsWith("cat-") || c.startsWith("state-")) t.classList.remove(c);
      }
      t.classList.add("cat-" + category(state), "state-" + state);
      t.querySelector(".state").textContent = state.replace(/_/g, " ");
      t.querySelector(".reason").textContent = e.payload.reason ? String(e.payload.reason) : "";
      t.dataset.since = e.ts;
      tick();
      flash(t);
    } else if (e.kind === "part" && e.payload) {
      const result = e.payload.result || "good";
      const counter = t.querySelector(result === "scrap" ? ".scrap" : ".good");
      if (counter && (result === "good" || result === "scrap")) {
        counter.textContent = String(Number(counter.textContent) + 1);
        flash(t);
      }
    }
  }

  function refresh() {
    if (window.htmx && tiles()) window.htmx.trigger(tiles(), "refresh");
  }

  function polling(on) {
    if (on && pollTimer === null) {
      pollTimer = setInterval(refresh, POLL_MS);
      live.dataset.live = "polling";
      live.textContent = "reconnecting; refreshing every " + POLL_MS / 1000 + " s";
    } else if (!on && pollTimer !== null) {
      clearInterval(pollTimer);
      pollTimer = null;
    }
  }

  function connect() {
    if (!window.EventSource) { polling(true); return; }
    const url = "/api/v1/stream?pattern=" + encodeURIComponent(board.dataset.stream || "#");
    const source = new EventSource(url);
    source.addEventListener("open", function () {
      polling(false);
      live.dataset.live = "on";
      live.textContent = "live";
      refresh(); // catch up on what happened while connecting
    });
    source.addEventListener("event", onEvent);
    source.addEventListener("error", function () {
      polling(true);
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, POLL_MS);
    });
  }

  document.body.addEventListener("htmx:afterSwap", tick);
  setInterval(tick, 1000);
  setInterval(refresh, RESYNC_MS);
  connect();
})();
