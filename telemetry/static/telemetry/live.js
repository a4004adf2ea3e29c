// Live hive page: loads the last 24 h over the REST API, then follows the WebSocket
// stream ({"type": "history"|"readings", "hive": id, "device_id": "...", "readings": [...]}).
// Alerts: the page comes with the viewer's active alerts on the hive; the stream's
// {"type": "alert", "hive": id, "alert": {...}} messages add new ones and update their
// status (open, acknowledged, resolved: an ended alert stays listed, marked as such).
// No dependencies.
(function () {
  "use strict";
  const WINDOW_MS = 24 * 3600 * 1000;
  const root = document.getElementById("charts");
  const hiveId = Number(root.dataset.hiveId);
  const statusEl = document.getElementById("status");
  const byTime = new Map(); // ISO time -> reading
  const charts = Array.from(root.querySelectorAll(".chart")).map((section) => ({
    metric: section.dataset.metric,
    unit: section.dataset.unit,
    canvas: section.querySelector("canvas"),
    latest: section.querySelector(".latest"),
  }));

  function add(readings) {
    for (const r of readings) byTime.set(r.time, r);
    const cutoff = Date.now() - WINDOW_MS;
    for (const [time] of byTime) if (Date.parse(time) < cutoff) byTime.delete(time);
    render();
  }

  function sorted() {
    return Array.from(byTime.values()).sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  }

  function render() {
    const readings = sorted();
    document.getElementById("count").textContent = readings.length;
    if (readings.length) {
      document.getElementById("updated").textContent = new Date(readings[readings.length - 1].time).toLocaleString();
    }
    for (const chart of charts) draw(chart, readings);
  }

  function draw(chart, readings) {
    const points = readings.filter((r) => r[chart.metric] !== null && r[chart.metric] !== undefined);
    const last = points[points.length - 1];
    chart.latest.textContent = last ? `${last[chart.metric].toFixed(1)} ${chart.unit}` : "–";
    const canvas = chart.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.clearRect(0, 0, width, height);
    if (!points.length) return;
    const pad = { left: 44, right: 8, top: 8, bottom: 20 };
    const now = Date.now(), t0 = now - WINDOW_MS;
    let min = Math.min(...points.map((p) => p[chart.metric]));
    let max = Math.max(...points.map((p) => p[chart.metric]));
    if (max - min < 1e-6) { min -= 1; max += 1; }
    const x = (t) => pad.left + ((t - t0) / WINDOW_MS) * (width - pad.left - pad.right);
    const y = (v) => pad.top + (1 - (v - min) / (max - min)) * (height - pad.top - pad.bottom);
    ctx.strokeStyle = "#ddd";
    ctx.fillStyle = "#666";
    ctx.font = "11px system-ui, sans-serif";
    for (const v of [min, (min + max) / 2, max]) {
      ctx.beginPath(); ctx.moveTo(pad.left, y(v)); ctx.lineTo(width - pad.right, y(v)); ctx.stroke();
      ctx.fillText(v.toFixed(1), 2, y(v) + 4);
    }
    for (let h = 0; h <= 24; h += 6) {
      const t = t0 + h * 3600 * 1000;
      ctx.fillText(h === 24 ? "now" : `-${24 - h}h`, x(t) - (h === 24 ? 22 : 10), height - 4);
    }
    ctx.strokeStyle = "#d48806";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    points.forEach((p, i) => {
      const px = x(Date.parse(p.time)), py = y(p[chart.metric]);
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    ctx.stroke();
    ctx.fillStyle = "#d48806";
    ctx.beginPath(); ctx.arc(x(Date.parse(last.time)), y(last[chart.metric]), 3, 0, 2 * Math.PI); ctx.fill();
  }

  // --- Alerts -------------------------------------------------------------------------
  const alertsEl = document.getElementById("alerts");
  const alertList = document.getElementById("alert-list");
  const kindLabels = JSON.parse(document.getElementById("alert-kinds").textContent);

  function alertItem(id) {
    return alertList.querySelector(`li[data-alert-id="${Number(id)}"]`);
  }

  // Statuses only move forward (open, acknowledged, ended); an answer that was on its way
  // before a newer message arrived must not move an alert back.
  function stage(status, ended) {
    return (ended ? 2 : 0) + (status === "open" ? 0 : 1);
  }

  function localTime(el) {
    const when = Date.parse(el.getAttribute("datetime"));
    if (!Number.isNaN(when)) el.textContent = new Date(when).toLocaleString();
  }

  function field(li, cls, tag) {
    let el = li.querySelector(`.${cls}`);
    if (!el) {
      el = document.createElement(tag || "span");
      el.className = cls;
      li.appendChild(el);
    }
    return el;
  }

  // Add or update one alert (the API's and the stream's shape, alerts.live.alert_payload).
  function showAlert(alert) {
    const ended = Boolean(alert.resolved_at);
    let li = alertItem(alert.id);
    if (li) {
      const current = stage(li.dataset.status, li.classList.contains("ended"));
      if (stage(alert.status, ended) < current) return;
    } else {
      if (ended) return; // never seen active here: nothing to tell
      li = document.createElement("li");
      li.dataset.alertId = alert.id;
      alertList.prepend(li); // newest first, as the page lists them
    }
    li.dataset.kind = alert.kind;
    li.dataset.status = alert.status;
    li.className = `alert ${alert.status}${ended ? " ended" : ""}`;
    field(li, "alert-status").textContent = ended && alert.status === "acknowledged" ? "acknowledged, ended" : alert.status;
    field(li, "alert-kind").textContent = kindLabels[alert.kind] || alert.kind;
    field(li, "alert-message").textContent = alert.message;
    const time = field(li, "alert-time", "time");
    time.setAttribute("datetime", alert.started_at);
    localTime(time);
    countAlerts();
  }

  function countAlerts() {
    const active = alertList.querySelectorAll("li.alert:not(.ended)").length;
    document.getElementById("alert-count").textContent = active;
    document.getElementById("no-alerts").hidden = alertList.children.length > 0;
  }

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    return response.ok ? response.json() : null;
  }

  // The stream tells every socket on the hive about alerts on it. One the page does not
  // list yet is shown only if the API (which answers each user with their own alerts)
  // knows it: another member's alert on the same hive stays off this page.
  async function alertMessage(message) {
    const alert = message.alert;
    if (!alert || message.hive !== hiveId) return;
    if (alertItem(alert.id)) {
      showAlert(alert);
      return;
    }
    try {
      const own = await getJSON(`/alerts/${Number(alert.id)}`);
      if (own && own.hive === hiveId) showAlert(own);
    } catch (err) {
      console.warn("alert unavailable", err);
    }
  }

  // After each (re)connection: what changed while the socket was not listening.
  async function syncAlerts() {
    try {
      const page = await getJSON(alertsEl.dataset.alertsUrl);
      // Newest first in the answer; oldest first here, as each new one goes on top.
      for (const alert of ((page && page.results) || []).reverse()) {
        if (!alert.resolved_at || alertItem(alert.id)) showAlert(alert);
      }
    } catch (err) {
      console.warn("alerts unavailable", err);
    }
  }

  for (const time of alertList.querySelectorAll("time.alert-time")) localTime(time);

  function setStatus(text, cls) {
    statusEl.textContent = text;
    statusEl.className = `status ${cls}`;
  }

  async function loadHistory() {
    try {
      const response = await fetch(root.dataset.historyUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) add((await response.json()).results || []);
    } catch (err) {
      console.warn("history unavailable", err);
    }
  }

  // The badge says what the socket really is: "live" only once the server has answered
  // with the hive's history, never merely because a connection opened.
  // Close codes that end the stream for good (telemetry/consumers.py).
  const FINAL = {
    4401: "closed: signed out",
    4404: "closed: hive not found or no longer shared with you",
  };
  // Close codes worth a retry, with what to tell the user meanwhile.
  const TRANSIENT = {
    4429: "too many open streams",
    4503: "telemetry database unavailable",
  };
  let retry = 1000;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    setStatus("connecting…", "connecting");
    const socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}`);
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "history" || message.type === "readings") {
        setStatus("live", "live");
        retry = 1000;
        add(message.readings);
        if (message.type === "history") syncAlerts();
      } else if (message.type === "alert") {
        alertMessage(message);
      }
    };
    socket.onclose = (event) => {
      if (FINAL[event.code]) {
        setStatus(FINAL[event.code], "closed");
        return;
      }
      const why = TRANSIENT[event.code] || "connection lost";
      setStatus(`reconnecting in ${Math.round(retry / 1000)} s (${why})`, "connecting");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }

  window.addEventListener("resize", render);
  loadHistory().then(connect);
})();
