// The bgwasm dashboard: one page, plain JavaScript, no build step. It polls
// the daemon's JSON routes every two seconds and re-renders the current
// view. Everything the daemon returns is shown with textContent, never as
// HTML. Mutating requests send the session's CSRF token in a header.
"use strict";

const POLL_MS = 2000;
const API = "/dashboard/api";
let session = null;
let timer = null;
let busy = false;
const openRuns = new Set();

// el("div", {class: "x", onclick: f}, "text", child, ...)
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, method) {
  const init = { method: method || "GET", credentials: "same-origin", headers: {} };
  if (init.method !== "GET") init.headers["x-bgwasm-csrf"] = session ? session.csrf : "";
  const response = await fetch(API + path, init);
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    throw new HttpError(response.status, (body && body.error) || ("HTTP " + response.status));
  }
  return body;
}

const enc = encodeURIComponent;
const piecePath = (space, id) => `/spaces/${enc(space)}/pieces/${enc(id)}`;
const pieceHash = (space, id) => `#/spaces/${enc(space)}/pieces/${enc(id)}`;
const cellsHash = (space) => `#/spaces/${enc(space)}/cells`;

function shortSpace(space) {
  return space.length > 28 ? space.slice(0, 14) + "…" + space.slice(-8) : space;
}

function ago(ms, now) {
  if (!ms) return "never";
  const d = Math.round((ms - now) / 1000);
  const a = Math.abs(d);
  if (a < 1) return "just now";
  const text = a < 60 ? `${a} s` : a < 3600 ? `${Math.round(a / 60)} min` :
    a < 86400 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return d >= 0 ? `in ${text}` : `${text} ago`;
}

function when(ms) { return ms ? new Date(ms).toLocaleString() : "never"; }

function notice(text, isError) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.className = isError ? "err" : "";
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

function phaseBadge(r) {
  if (r.phase === "dispatched") return el("span", { class: "badge busy" }, "running");
  if (r.phase === "disabled") return el("span", { class: "badge off" }, "disabled");
  if (r.consecutiveFailures > 0) return el("span", { class: "badge err" }, "failing");
  if (r.lastRun === 0) return el("span", { class: "badge" }, "new");
  return el("span", { class: "badge ok" }, "ok");
}

function chart(bars) {
  const ns = "http://www.w3.org/2000/svg";
  const w = 120, h = 28, gap = 1, n = 20;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const max = Math.max(1, ...bars.map((b) => b.ms));
  const bw = w / n - gap;
  bars.slice(-n).forEach((bar, i) => {
    const rect = document.createElementNS(ns, "rect");
    const bh = Math.max(2, Math.round((bar.ms / max) * (h - 2)));
    rect.setAttribute("x", (i * (bw + gap)).toFixed(1));
    rect.setAttribute("y", h - bh);
    rect.setAttribute("width", bw.toFixed(1));
    rect.setAttribute("height", bh);
    rect.setAttribute("class", bar.ok ? "ok" : "err");
    const title = document.createElementNS(ns, "title");
    title.textContent = `${bar.ms} ms${bar.ok ? "" : " (failed)"}`;
    rect.append(title);
    svg.append(rect);
  });
  const label = bars.length ? `durations of the last ${bars.length} runs, longest ${max} ms` : "no runs yet";
  svg.setAttribute("aria-label", label);
  return svg;
}

async function act(space, id, action, button) {
  button.disabled = true;
  busy = true;
  try {
    const result = await api(`${piecePath(space, id)}/${action}`, "POST");
    if (action === "run") {
      notice(result.ok ? `Ran ${id}: ok (${result.duration_ms} ms)`
        : `Ran ${id}: ${result.error ? result.error.kind + ": " + result.error.message : "failed"}`, !result.ok);
    } else {
      notice(`${id}: ${result.status}`);
    }
  } catch (error) {
    notice(`${action} ${id}: ${error.message}`, true);
  } finally {
    busy = false;
    button.disabled = false;
    refresh();
  }
}

function buttons(r) {
  const run = el("button", { class: "primary", "data-action": "run", type: "button" }, "Run now");
  run.addEventListener("click", () => act(r.space, r.pieceId, "run", run));
  const enabled = r.disabledAt === 0;
  const toggle = el("button", { "data-action": enabled ? "disable" : "enable", type: "button" },
    enabled ? "Disable" : "Enable");
  toggle.addEventListener("click", () => act(r.space, r.pieceId, enabled ? "disable" : "enable", toggle));
  return el("div", { class: "actions" }, run, toggle);
}

function statusCell(r) {
  const failing = r.consecutiveFailures > 0 || (r.status && r.status.startsWith("Disabled:"));
  return el("td", {}, phaseBadge(r),
    el("span", { class: "status-text" + (failing ? " err" : ""), title: r.status }, r.status));
}

function params() {
  const query = location.hash.split("?")[1] || "";
  return new URLSearchParams(query);
}

async function listView() {
  const page = Math.max(1, parseInt(params().get("page") || "1", 10) || 1);
  const data = await api(`/registrations?page=${page}`);
  const pages = Math.max(1, Math.ceil(data.total / data.per));
  const rows = data.registrations.map((r) => el("tr", { "data-piece": r.pieceId },
    el("td", {}, el("a", { href: cellsHash(r.space), class: "space", title: r.space }, shortSpace(r.space))),
    el("td", {}, el("a", { href: pieceHash(r.space, r.pieceId), class: "piece-link" }, r.pieceId),
      el("span", { class: "status-text" }, r.integration)),
    statusCell(r),
    el("td", { title: when(r.lastRun) }, ago(r.lastRun, data.now)),
    el("td", { title: when(r.nextRun) }, r.phase === "scheduled" ? ago(r.nextRun, data.now) : "—"),
    el("td", { class: "num", title: "consecutive / total failures" },
      `${r.consecutiveFailures} / ${r.totalFailures}`),
    el("td", {}, chart(r.recent)),
    el("td", {}, buttons(r))));
  const nav = (p, label) => el("a", { href: `#/?page=${p}` }, label);
  return [
    el("h1", {}, session.space ? "Registrations of this space" : "Registrations"),
    el("div", { class: "pager" },
      page > 1 ? nav(page - 1, "← Previous") : el("span", { class: "muted" }, "← Previous"),
      el("span", {}, `Page ${page} of ${pages} · ${data.total} registrations`),
      page < pages ? nav(page + 1, "Next →") : el("span", { class: "muted" }, "Next →")),
    el("table", { id: "registrations" },
      el("thead", {}, el("tr", {}, ["Space", "Piece", "Status", "Last run", "Next run",
        "Failures", "Recent durations", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.length ? rows :
        el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No registrations.")))),
  ];
}

function json(value) { return JSON.stringify(value, null, 2); }

function runDetails(run) {
  const o = run.outcome;
  const parts = [];
  if (o.error) {
    parts.push(el("h3", {}, "Error"),
      el("pre", { class: "error run-error" }, `${o.error.kind}: ${o.error.message}` +
        (o.error.stack ? "\n\n" + o.error.stack : "")));
  }
  if (o.value !== null && o.value !== undefined) parts.push(el("h3", {}, "Value"), el("pre", {}, json(o.value)));
  parts.push(el("h3", {}, `Logs (${o.logs.length})`), o.logs.length
    ? el("pre", {}, o.logs.map((l) => `[${l.level}] ${l.message}`).join("\n"))
    : el("p", { class: "muted" }, "none"));
  parts.push(el("h3", {}, `Fetches (${o.fetches.length})`), o.fetches.length
    ? el("table", {}, el("tbody", {}, o.fetches.map((f) => el("tr", {},
      el("td", {}, f.method), el("td", {}, f.url),
      el("td", {}, f.status === null || f.status === undefined ? `failed: ${f.error || "?"}` : f.status),
      el("td", { class: "num" }, `${f.duration_ms} ms`)))))
    : el("p", { class: "muted" }, "none"));
  parts.push(el("h3", {}, `Cell writes (${o.cell_writes.length})${o.ok ? "" : ", dropped: the run failed"}`),
    o.cell_writes.length ? el("pre", {}, o.cell_writes.join("\n")) : el("p", { class: "muted" }, "none"));
  parts.push(el("p", { class: "muted" },
    `fuel ${o.fuel_used.toLocaleString()} units · memory peak ${(o.memory_peak_bytes / 1048576).toFixed(1)} MiB · ` +
    `started ${when(run.startedAt)}`));
  const details = el("details", { class: "run", "data-run": run.id, "data-trigger": run.trigger, open: openRuns.has(run.id) },
    el("summary", {},
      el("span", { class: o.ok ? "badge ok" : "badge err" }, o.ok ? "ok" : o.error ? o.error.kind : "failed"),
      el("b", {}, `Run #${run.id}`),
      el("span", { class: "muted" }, run.trigger),
      el("span", {}, when(run.startedAt)),
      el("span", { class: "muted" }, `${o.duration_ms} ms`),
      o.error ? el("span", { class: "status-text err summary-error" }, o.error.message) : null),
    el("div", {}, parts));
  details.addEventListener("toggle", () => {
    if (details.open) openRuns.add(run.id); else openRuns.delete(run.id);
  });
  return details;
}

async function pieceView(space, id) {
  const data = await api(piecePath(space, id));
  const r = data.registration;
  const head = [
    el("div", { class: "crumbs" }, el("a", { href: "#/" }, "Registrations"), " / ",
      el("a", { href: cellsHash(space), class: "space", title: space }, shortSpace(space))),
    el("h1", {}, `Piece ${id}`),
  ];
  const facts = r ? [
    ["Status", statusCell(r).childNodes[0]], ["Last run", ago(r.lastRun, data.now)],
    ["Next run", r.phase === "scheduled" ? ago(r.nextRun, data.now) : "—"],
    ["Failures", `${r.consecutiveFailures} in a row, ${r.totalFailures} of ${r.totalRuns}`],
    ["Integration", r.integration], ["Last error", r.lastError || "none"],
  ] : [["Registration", "not registered"]];
  return [
    ...head,
    r ? buttons(r) : null,
    el("div", { class: "grid" }, facts.map(([k, v]) => el("div", {}, el("b", {}, k), v))),
    r ? el("p", { class: "status-text" + (r.consecutiveFailures ? " err" : "") }, r.status) : null,
    el("h2", {}, `Runs (${data.runs.length}, newest first)`),
    el("div", { id: "runs" }, data.runs.length ? data.runs.map(runDetails) :
      el("p", { class: "muted" }, "No runs yet.")),
    el("h2", {}, `Source (${data.piece.lang}, ${data.piece.sourceBytes} bytes, sha256 ${data.piece.hash.slice(0, 12)}…)`),
    el("pre", { id: "source" }, data.source),
  ];
}

async function cellsView(space) {
  const data = await api(`/spaces/${enc(space)}/cells`);
  return [
    el("div", { class: "crumbs" }, el("a", { href: "#/" }, "Registrations")),
    el("h1", {}, "Cells of ", el("span", { class: "space" }, space)),
    data.cells.length ? el("table", { id: "cells" },
      el("thead", {}, el("tr", {}, el("th", {}, "Key"), el("th", {}, "Value"))),
      el("tbody", {}, data.cells.map((c) => el("tr", {}, el("td", {}, el("code", {}, c.key)),
        el("td", {}, el("pre", {}, json(c.value)))))))
      : el("p", { class: "muted" }, "This space has no cells."),
  ];
}

function route() {
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "spaces" && parts[2] === "pieces" && parts.length === 4) return () => pieceView(parts[1], parts[3]);
  if (parts[0] === "spaces" && parts[2] === "cells" && parts.length === 3) return () => cellsView(parts[1]);
  return listView;
}

async function refresh() {
  if (busy) return;
  clearTimeout(timer);
  const live = document.getElementById("live");
  try {
    const nodes = await route()();
    const view = document.getElementById("view");
    const y = window.scrollY;
    view.replaceChildren(...nodes.flat().filter(Boolean));
    window.scrollTo(0, y);
    live.textContent = "live · " + new Date().toLocaleTimeString();
    live.className = "";
  } catch (error) {
    live.className = "stale";
    if (error.status === 401) {
      live.textContent = "logged out";
      document.getElementById("view").replaceChildren(el("div", { class: "notice" },
        el("h1", {}, "Logged out"), el("p", {}, error.message)));
      return;
    }
    live.textContent = "not updating: " + error.message;
    if (error.status === 403 || error.status === 404) {
      document.getElementById("view").replaceChildren(el("p", { class: "status-text err" }, error.message));
    }
  }
  timer = setTimeout(refresh, POLL_MS);
}

async function start() {
  try {
    session = await api("/session");
  } catch (error) {
    document.getElementById("view").replaceChildren(el("p", {}, error.message));
    return;
  }
  document.getElementById("who").textContent = session.space
    ? `space ${shortSpace(session.space)}` : "operator · all spaces";
  document.getElementById("logout").addEventListener("click", async () => {
    try { await api("/logout", "POST"); } catch (_) { /* already out */ }
    location.reload();
  });
  window.addEventListener("hashchange", () => { openRuns.clear(); refresh(); });
  refresh();
}

start();
