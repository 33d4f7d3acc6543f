// Lilo operator console: sign in (with the MFA step), watch the crisis feed over SSE,
// acknowledge and escalate alerts, and show service health. No external assets.
"use strict";

const state = { token: sessionStorage.getItem("lilo.token") || "", challenge: "", feed: null, alerts: new Map() };
const $ = (id) => document.getElementById(id);

function show(id, visible) { $(id).classList.toggle("hidden", !visible); }

async function postJson(path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const msg = (data && data.message) || res.statusText;
    throw new Error(msg + " (HTTP " + res.status + ")");
  }
  return data;
}

function signedIn(token) {
  state.token = token;
  sessionStorage.setItem("lilo.token", token);
  show("login-panel", false);
  show("feed-panel", true);
  show("logout-btn", true);
  startFeed();
}

function signOut() {
  if (state.feed) state.feed.close();
  state.feed = null;
  state.token = "";
  sessionStorage.removeItem("lilo.token");
  state.alerts.clear();
  $("alerts").textContent = "";
  show("login-panel", true);
  show("feed-panel", false);
  show("logout-btn", false);
  show("mfa-form", false);
  show("login-form", true);
  $("feed-status").textContent = "signed out";
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    const reply = await postJson("/v1/auth:login", { username: $("username").value, password: $("password").value });
    if (reply.mfaChallenge) {
      state.challenge = reply.mfaChallenge.challengeToken;
      show("login-form", false);
      show("mfa-form", true);
      $("mfa-code").focus();
    } else if (reply.tokens) {
      signedIn(reply.tokens.accessToken);
    }
  } catch (e) { $("login-error").textContent = e.message; }
});

$("mfa-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    const reply = await postJson("/v1/auth/mfa:verify", { challengeToken: state.challenge, code: $("mfa-code").value });
    signedIn(reply.tokens.accessToken);
  } catch (e) { $("login-error").textContent = e.message; }
});

$("logout-btn").addEventListener("click", signOut);

function startFeed() {
  if (state.feed) state.feed.close();
  // EventSource cannot send headers: the gateway accepts the token as ?access_token= on
  // streaming routes. On reconnect the browser sends Last-Event-ID, which the gateway turns
  // into the resume cursor, so no event is missed.
  const url = "/v1/alerts:watch?replayAll=true&access_token=" + encodeURIComponent(state.token);
  const feed = new EventSource(url);
  state.feed = feed;
  $("feed-status").textContent = "connecting";
  feed.onopen = () => { $("feed-status").textContent = "live"; };
  feed.addEventListener("message", (ev) => {
    const reply = JSON.parse(ev.data);
    if (reply.event && reply.event.alert) upsert(reply.event.alert);
  });
  feed.addEventListener("error", (ev) => {
    if (ev.data) {  // an error event sent by the gateway: a google.rpc.Status
      const status = JSON.parse(ev.data);
      $("feed-status").textContent = "feed error: " + status.message;
      if (status.code === 16 || status.code === 7) { feed.close(); }
    } else {
      $("feed-status").textContent = "reconnecting";
    }
  });
  feed.addEventListener("end", () => { feed.close(); $("feed-status").textContent = "feed ended"; });
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function upsert(alert) {
  const known = state.alerts.has(alert.alertId);
  state.alerts.set(alert.alertId, alert);
  let row = document.querySelector('tr[data-alert-id="' + CSS.escape(alert.alertId) + '"]');
  if (!row) {
    row = document.createElement("tr");
    row.dataset.alertId = alert.alertId;
    $("alerts").prepend(row);
  }
  row.className = known ? "" : "new";
  row.textContent = "";
  row.append(
    cell(alert.createdAt ? new Date(alert.createdAt).toLocaleString() : ""),
    cell(alert.residentId),
    cell(String(alert.level || "").replace("CRISIS_LEVEL_", "")),
    cell(alert.excerpt),
    cell(alert.state, "state " + alert.state),
    cell(String(alert.tier || "").replace("ESCALATION_TIER_", "")),
  );
  const actions = document.createElement("td");
  const closed = alert.state === "ALERT_STATE_RESOLVED";
  const ack = document.createElement("button");
  ack.className = "ack";
  ack.textContent = "Acknowledge";
  ack.disabled = closed || alert.state === "ALERT_STATE_ACKNOWLEDGED";
  ack.onclick = () => act(alert.alertId, "acknowledge", { note: "acknowledged from the console" });
  const esc = document.createElement("button");
  esc.className = "escalate";
  esc.textContent = "Escalate";
  esc.disabled = closed;
  esc.onclick = () => act(alert.alertId, "escalate", { reason: "escalated from the console" });
  actions.append(ack, " ", esc);
  row.append(actions);
}

async function act(alertId, verb, body) {
  $("action-error").textContent = "";
  try {
    // The new state arrives on the feed like every other change, for every open console.
    await postJson("/v1/alerts/" + encodeURIComponent(alertId) + ":" + verb, body, state.token);
  } catch (e) { $("action-error").textContent = verb + " failed: " + e.message; }
}

async function refreshHealth() {
  try {
    const res = await fetch("/console/health.json");
    const report = await res.json();
    $("ready-status").textContent = "(" + report.status + ")";
    const list = $("health");
    list.textContent = "";
    const names = Object.keys(report.services).sort((a, b) =>
      (report.services[a].status === "absent") - (report.services[b].status === "absent") || a.localeCompare(b));
    for (const name of names) {
      const s = report.services[name];
      const li = document.createElement("li");
      li.className = s.status;
      li.dataset.service = name;
      li.textContent = name.replace(/^lilo\./, "") + ": " + s.status + (s.status === "absent" ? "" : " (" + s.endpoints + ")");
      list.append(li);
    }
  } catch (e) { $("ready-status").textContent = "(health unavailable)"; }
}

refreshHealth();
setInterval(refreshHealth, 5000);
if (state.token) signedIn(state.token);
