// Live hive page: loads the last 24 h over the REST API, then follows the WebSocket
// stream ({"type": "history"|"readings", "hive": id, "device_id": "...", "readings": [...]}).
// No dependencies.
(function () {
  "use strict";
  const WINDOW_MS = 24 * 3600 * 1000;
  const root = document.getElementById("charts");
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
