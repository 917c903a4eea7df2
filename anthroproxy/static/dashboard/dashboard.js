// The dashboard: reads /dashboard/events (one snapshot a second) with the key
// the page was given, and draws it. Every figure goes in as text, never as HTML.
"use strict";

const KEY = "anthroproxy-dashboard-key";
const COLOURS = ["#1971c2", "#e8590c", "#2f9e44", "#9c36b5", "#f08c00", "#0c8599", "#c2255c", "#5c940d"];
const WINDOW_S = 900;
const charts = {};
let reader = null;
let windowEnd = Date.now() / 1000;  // every chart spans the last 15 minutes, up to the latest snapshot

const $ = (id) => document.getElementById(id);

function show(state, text) {
  $("status").textContent = text;
  $("board").hidden = state !== "board";
  $("ask").hidden = state !== "ask";
  $("forget").hidden = !sessionStorage.getItem(KEY);
}

async function connect() {
  const key = sessionStorage.getItem(KEY);
  let answer;
  try {
    if (!key && (await (await fetch("/dashboard/access", { cache: "no-store" })).json()).key_needed) {
      return show("ask", "a key is needed");
    }
    answer = await fetch("/dashboard/events", { headers: key ? { "x-api-key": key } : {}, cache: "no-store" });
  } catch (error) {
    show("none", "the proxy cannot be reached; retrying");
    return setTimeout(connect, 2000);
  }
  if (answer.status === 401) {
    $("refused").hidden = !key;
    sessionStorage.removeItem(KEY);
    return show("ask", "a key is needed");
  }
  if (!answer.ok) {
    const body = await answer.json().catch(() => ({}));
    show("none", (body.error && body.error.message) || `the proxy answered ${answer.status}`);
    return setTimeout(connect, 5000);
  }
  show("board", "live");
  await read(answer.body.getReader());
  show("board", "disconnected; reconnecting");
  setTimeout(connect, 1000);
}

async function read(stream) {
  reader = stream;
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    let part;
    try {
      part = await stream.read();
    } catch (error) {
      return;
    }
    if (part.done) return;
    buffer += decoder.decode(part.value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame.split("\n").filter((line) => line.startsWith("data: ")).map((line) => line.slice(6));
      if (frame.startsWith("event: snapshot") && data.length) draw(JSON.parse(data.join("\n")));
    }
  }
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function fill(tableId, rows, write) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  for (const item of rows) write(body.insertRow(), item);
}

function thousands(n) {
  if (n === null || n === undefined) return "";
  return n >= 10000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString();
}

function countdown(seconds) {
  const s = Math.ceil(seconds);
  return s >= 120 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s}s`;
}

function drawUpstreams(upstreams) {
  fill("upstreams", Object.entries(upstreams), (row, [name, up]) => {
    row.dataset.upstream = name;
    cell(row, name);
    cell(row, up.protocol);
    cell(row, up.state, up.state === "ok" ? "ok" : "cooling");
    cell(row, up.replicas.map((r) => (r.seconds > 0 ? `${r.url}: cooling ${countdown(r.seconds)} (${r.why})` : `${r.url}: ok`)).join("; "));
    const out = up.keys_out.map((k) => `key ${k.key} out ${countdown(k.seconds)} (${k.why})`);
    cell(row, up.keys ? `${up.keys} configured${out.length ? "; " + out.join("; ") : ""}` : "the client's or none");
    cell(row, up.models.map((m) => `${m.model}${m.key ? " key " + m.key : ""}${m.url ? " at " + m.url : ""}: ${countdown(m.seconds)} (${m.why})`).join("; "));
  });
}

function chart(id, title, time, series, options = {}) {
  const names = Object.keys(series);
  const shape = names.join("\u0000") + (options.dash ? "|dash" : "");
  const element = $(id);
  const data = [time, ...names.map((name) => series[name])];
  let found = charts[id];
  if (found && found.shape !== shape) {
    found.plot.destroy();
    found = null;
  }
  if (!found) {
    const width = Math.max(480, element.clientWidth || 560);
    const plot = new uPlot({
      width, height: 220,
      scales: { x: { time: true, range: () => [windowEnd - WINDOW_S, windowEnd] } },
      series: [{}, ...names.map((name, index) => ({
        label: name,
        stroke: COLOURS[(options.colourOf ? options.colourOf(name) : index) % COLOURS.length],
        width: 2,
        dash: options.dash && options.dash(name) ? [6, 4] : undefined,
        spanGaps: true,
        points: { show: time.length < 3 },
      }))],
      axes: [{}, { size: 60 }],
    }, data, element);
    found = charts[id] = { plot, shape };
  } else {
    found.plot.setData(data);
  }
}

function drawCharts(snapshot) {
  const traffic = snapshot.traffic;
  chart("traffic", "requests", traffic.time, { "requests/s": traffic.requests, "errors/s": traffic.errors, "failovers/s": traffic.failovers });
  const first = snapshot.first_event;
  const models = Object.keys(first.p50);
  const lines = {};
  for (const model of models) {
    lines[`${model} p50`] = first.p50[model];
    lines[`${model} p95`] = first.p95[model];
  }
  chart("first", "first event", first.time.length ? first.time : [snapshot.time], first.time.length ? lines : {}, {
    dash: (name) => name.endsWith(" p95"),
    colourOf: (name) => models.indexOf(name.replace(/ p(50|95)$/, "")),
  });
  fill("first-table", Object.entries(first.window), (row, [model, figures]) => {
    cell(row, model);
    cell(row, figures.p50);
    cell(row, figures.p95);
    cell(row, figures.count);
  });
  const tokens = snapshot.tokens;
  const time = tokens.time.length ? tokens.time : [snapshot.time];
  chart("tokens-model", "tokens by model", time, tokens.time.length ? tokens.by_model : {});
  chart("tokens-upstream", "tokens by upstream", time, tokens.time.length ? tokens.by_upstream : {});
}

function drawClients(clients) {
  fill("clients", clients, (row, c) => {
    const inTokens = (c.input_tokens || 0) + (c.cache_read_input_tokens || 0) + (c.cache_creation_input_tokens || 0);
    const spent = (c.input_tokens || 0) + (c.cache_creation_input_tokens || 0) + (c.output_tokens || 0);
    row.dataset.client = c.client;
    cell(row, c.client);
    cell(row, c.requests || 0);
    cell(row, thousands(inTokens));
    cell(row, thousands(c.cache_read_input_tokens || 0));
    cell(row, thousands(c.output_tokens || 0));
    cell(row, c.rpm === null ? "no limit" : c.rpm);
    cell(row, c.tpm === null ? "no limit" : thousands(c.tpm));
    cell(row, c.daily_tokens === null ? "no budget" : `${thousands(spent)} of ${thousands(c.daily_tokens)}`,
         c.daily_tokens !== null && spent >= c.daily_tokens ? "over" : "");
  });
}

function drawRecent(recent) {
  fill("recent", recent, (row, r) => {
    row.dataset.client = r.client || "";
    cell(row, clock(r.time));
    cell(row, r.client || "");
    cell(row, `${r.model} → ${r.target || "?"}@${r.upstream || "?"}`);
    cell(row, r.route || "");
    cell(row, r.error ? `${r.status} ${r.error}` : r.status, r.status >= 400 || r.error ? "cooling" : "");
    cell(row, r.first_event_ms === null ? "" : `${r.first_event_ms} ms`);
    cell(row, `${thousands(r.input_tokens + r.cache_read_input_tokens)} / ${thousands(r.output_tokens)}`);
    cell(row, r.stop_reason || "");
    cell(row, r.failovers);
  });
}

function draw(snapshot) {
  windowEnd = snapshot.time;
  $("active").textContent = snapshot.active_streams;
  $("processes").textContent = snapshot.processes;
  $("total").textContent = Math.round(snapshot.traffic.requests.reduce((a, b) => a + b, 0) * 10);
  $("status").textContent = `live${snapshot.viewer ? " · as " + snapshot.viewer : ""} · ${clock(snapshot.time)}`;
  drawUpstreams(snapshot.upstreams);
  drawCharts(snapshot);
  drawClients(snapshot.clients);
  drawRecent(snapshot.recent);
}

document.addEventListener("DOMContentLoaded", () => {
  $("ask").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    $("key").value = "";
    show("none", "connecting…");
    connect();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    if (reader) reader.cancel();
    location.reload();
  });
  connect();
});
