// The live status page: follows /events (server-sent events: "status" carries what metakoctl status -o json
// prints, "history" what metakoctl history -o json prints) and redraws. Loads nothing from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
window.metakoPageLoadedAt = Date.now(); // a reload would reset it (the tests check the page updates without one)

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c === null || c === undefined ? "" : c);
  return e;
}

const lower = (s) => String(s || "").toLowerCase();
const num = (v) => Number(v || 0);

function bytes(n) {
  n = num(n);
  if (n < 1024) return n + " B";
  const units = ["kB", "MB", "GB", "TB"];
  let u = -1;
  do { n /= 1024; u++; } while (n >= 1024 && u < units.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + " " + units[u];
}

function ago(millis) {
  const s = Math.max(0, Math.round((Date.now() - num(millis)) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  return Math.floor(s / 3600) + "h ago";
}

function healthOf(n) {
  const h = lower(n.health);
  return h === "healthy" ? "healthy" : h === "failed" ? "failed" : "undecided";
}

function drawStatus(s) {
  $("cluster").textContent = s.cluster_name || "";
  $("primary").textContent = s.primary || "none";
  $("epoch").textContent = s.epoch;
  $("leader").textContent = s.leader_id || "none";
  $("answered").textContent = s.answered_by;
  $("lease").textContent = s.holds_lease ? "held" : "NOT held";
  $("sentence").textContent = s.controller_sentence || "";

  const nodes = s.nodes || [];
  const failed = nodes.filter((n) => healthOf(n) === "failed").map((n) => n.node.name);
  const banner = $("banner");
  const problems = [];
  if (!s.primary) problems.push("no primary: a failover is in progress");
  if (failed.length) problems.push("failed: " + failed.join(", "));
  if (s.paused) problems.push("automatic failover is PAUSED");
  if (!s.holds_lease) problems.push("this instance holds no write lease (its proxy refuses writes)");
  banner.className = "banner " + (problems.length ? (failed.length || !s.primary ? "bad" : "warn") : "hidden");
  banner.textContent = problems.join(" \u2014 ");

  const cards = $("nodes");
  cards.replaceChildren(...nodes.map((n) => {
    const o = n.observation || {};
    const role = lower(n.node.role);
    const health = healthOf(n);
    const up = (n.verdicts || []).filter((v) => v.verdict === "UP").length;
    const facts = [["address", n.node.host + ":" + n.node.port], ["up for", up + "/" + s.instances + " instances"]];
    if (o.reachable) {
      facts.push(["seen as", o.in_recovery ? "replica" : "primary"]);
      if (num(o.timeline)) facts.push(["timeline", o.timeline]);
      if (o.in_recovery) facts.push(["lag", bytes(o.lag_bytes) + ", " + num(o.lag_seconds).toFixed(1) + " s"]);
    } else if (o.error) {
      facts.push(["error", o.error]);
    }
    const r = n.node.rejoin;
    if (role === "quarantined" && r && num(r.attempt)) {
      facts.push(["rejoin", "attempt " + r.attempt + " (" + r.method + ")" + (r.error ? " FAILED: " + r.error
        : num(r.finished_millis) ? " restarted, waiting to see it stream" : " running for " + ago(r.started_millis).replace(" ago", ""))]);
    }
    const dl = el("dl");
    for (const [k, v] of facts) dl.append(el("dt", {}, k), el("dd", {}, String(v)));
    return el("div", { class: "card " + health, "data-node": n.node.name, "data-role": role, "data-health": health },
      el("span", { class: "role " + role }, role.toUpperCase()),
      el("div", { class: "name" }, n.node.name),
      el("div", { class: "health" }, health.toUpperCase()),
      dl);
  }));

  $("members").tBodies[0].replaceChildren(...(s.members || []).map((m) => el("tr", {},
    el("td", {}, m.id + (m.self ? " (this one)" : "")),
    el("td", {}, m.id === s.leader_id ? "LEADER" : lower(m.role).replace("_member", "")),
    el("td", {}, m.raft_address), el("td", {}, m.grpc_address))));

  $("proxy-instance").textContent = s.answered_by;
  const p = s.proxy || {};
  const rows = [["client sessions", num(p.client_sessions)], ["statements", num(p.statements)],
    ["reads", num(p.reads)], ["writes", num(p.writes)], ["failures", num(p.failures)]];
  for (const b of p.backends || []) rows.push(["connections to " + b.node, num(b.in_use) + " in use, " + num(b.kept) + " kept"]);
  $("proxy").tBodies[0].replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, String(v)))));
}

function drawHistory(h) {
  const events = (h.events || []).slice().reverse();
  $("history").replaceChildren(...events.map((e) => {
    const kind = lower(e.kind);
    const took = num(e.started_millis) ? " in " + ((num(e.time_millis) - num(e.started_millis)) / 1000).toFixed(1) + " s" : "";
    const change = e.old_primary || e.new_primary ? " " + (e.old_primary || "-") + " \u2192 " + (e.new_primary || "-") : "";
    const node = e.node ? " " + e.node : "";
    return el("li", { class: kind },
      el("div", { class: "when" }, new Date(num(e.time_millis)).toLocaleString() + " \u00b7 epoch " + e.epoch),
      el("span", { class: "kind" }, kind.toUpperCase()), change + node + took,
      el("div", {}, e.reason || ""));
  }));
}

// Server-sent events read with fetch, so a token can go in a header (EventSource cannot send one).
let token = sessionStorage.getItem("metako-token");

function setLive(state, text) {
  const live = $("live");
  live.className = "live " + state;
  live.textContent = text;
}

async function follow() {
  for (;;) {
    try {
      const headers = token ? { Authorization: "Bearer " + token } : {};
      const response = await fetch("events", { headers, cache: "no-store" });
      if (response.status === 401) {
        token = window.prompt("This instance asks for its read token (http.auth: token):") || "";
        sessionStorage.setItem("metako-token", token);
        continue;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      setLive("ok", "live");
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) type = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).trim());
          }
          if (!data.length) continue;
          const payload = JSON.parse(data.join("\n"));
          if (type === "status") drawStatus(payload);
          else if (type === "history") drawHistory(payload);
        }
      }
    } catch (e) {
      // the instance stopped or the network dropped: say so, keep the last picture, try again
    }
    setLive("lost", "reconnecting");
    await new Promise((r) => setTimeout(r, 2000));
  }
}

follow();
