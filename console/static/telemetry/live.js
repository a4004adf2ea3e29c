// Live hive page. No dependencies.
//
// Ranges (the page's #live-config, console/live_views.py RANGES; ?range= in the URL):
//   24h  raw readings, GET /hives/{id}/telemetry?start=…&limit=… (following `next` pages)
//   7d, 30d  hourly avg/min/max, GET /hives/{id}/telemetry/hourly?start=…
// The time axis always spans the whole range, ending now, and slides with the clock.
// Then the page follows the WebSocket stream ({"type": "history"|"readings", "hive": id,
// "device_id": "...", "readings": [...]}). Its readings are added in every range: in 24 h
// to the line of raw readings; in 7 d and 30 d as dots over the hourly line (they are not
// folded into the hourly averages: the API gives a reading count per hour, not per
// metric, and the stream re-sends its last readings on every reconnection, so folding
// could only approximate, or count a reading twice). After a reconnection the range is
// loaded again, which fills in what the stream missed while it was down.
// Alerts: the page comes with the viewer's active alerts on the hive; the stream's
// {"type": "alert", "hive": id, "alert": {...}} messages add new ones and update their
// status (open, acknowledged, resolved: an ended alert stays listed, marked as such).
// An open alert has an "Acknowledge" button when the viewer may (config.acknowledgeUrl):
// it POSTs to the page's own view (console/live_views.py) and shows the answer.
// The badge (#status, data-state): connecting, live (connected, and the sensor sent a
// reading within config.silentAfterSeconds), silent (connected, but the sensor has not:
// "sensor silent since …"; data-silent-since the newest reading's time), waiting
// (connected, no reading ever), closed.
// Values are shown with their metric's digits (each chart's data-decimals).
// For tests and tools, #charts carries data-range, data-source, data-state (loading,
// ready, error) and data-request (the range's last query); each canvas data-x-start,
// data-x-end (ISO), data-ticks (the time labels, "|"-separated), data-y-unit,
// data-points (line points drawn) and data-live-points (dots over the hourly line).
(function () {
  "use strict";
  const HOUR = 3600 * 1000;
  const DAY = 24 * HOUR;
  const MAX_RAW_PAGES = 4; // 24 h of raw readings: up to 4 × rawLimit of them
  const RETRY_LOAD_MS = 15000;
  const config = JSON.parse(document.getElementById("live-config").textContent);
  const root = document.getElementById("charts");
  const hiveId = Number(root.dataset.hiveId);
  const statusEl = document.getElementById("status");
  const emptyEl = document.getElementById("empty-state");
  const rangeState = document.getElementById("range-state");
  const charts = Array.from(root.querySelectorAll(".chart")).map((section) => ({
    metric: section.dataset.metric,
    label: section.dataset.label,
    unit: section.dataset.unit,
    decimals: Number(section.dataset.decimals || 1),
    canvas: section.querySelector("canvas"),
    latest: section.querySelector(".latest"),
  }));

  // --- Data ---------------------------------------------------------------------------
  let range = config.ranges[config.range] || config.ranges["24h"];
  let raw = []; // readings in the window, oldest first, each with t (ms)
  const rawTimes = new Set();
  let hourly = []; // hourly rows in the range, oldest first, each with t (bucket start, ms)
  let newest = null; // the newest reading seen from any source
  const latest = {}; // metric -> {t, value}: the newest value of each metric
  let truncated = false;

  function windowStart(now) {
    return now - range.seconds * 1000;
  }

  function insertRaw(reading) {
    if (rawTimes.has(reading.t)) return;
    rawTimes.add(reading.t);
    if (!raw.length || reading.t > raw[raw.length - 1].t) {
      raw.push(reading);
      return;
    }
    let lo = 0, hi = raw.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (raw[mid].t < reading.t) lo = mid + 1; else hi = mid;
    }
    raw.splice(lo, 0, reading);
  }

  function noteLatest(reading) {
    if (!newest || reading.t > newest.t) newest = reading;
    for (const chart of charts) {
      const value = reading[chart.metric];
      if (value === null || value === undefined) continue;
      const known = latest[chart.metric];
      if (!known || reading.t >= known.t) latest[chart.metric] = { t: reading.t, value };
    }
  }

  // Readings from the stream or the raw query: kept if they fall in the window.
  function add(readings) {
    const start = windowStart(Date.now());
    for (const r of readings) {
      const reading = Object.assign({}, r, { t: Date.parse(r.time) });
      if (Number.isNaN(reading.t)) continue;
      noteLatest(reading);
      if (reading.t >= start) insertRaw(reading);
    }
    if (readings.length) setEmpty(false);
    scheduleRender();
  }

  function prune(start) {
    let drop = 0;
    while (drop < raw.length && raw[drop].t < start) rawTimes.delete(raw[drop++].t);
    if (drop) raw = raw.slice(drop);
  }

  // --- The empty state ----------------------------------------------------------------
  function setEmpty(empty) {
    if (emptyEl) emptyEl.hidden = !empty;
  }

  // --- Loading a range ----------------------------------------------------------------
  let generation = 0;
  let controller = null;
  let retryTimer = null;

  async function getPage(url, signal) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal,
    });
    if (!response.ok) {
      let detail = "";
      try {
        detail = (await response.json()).detail || "";
      } catch (err) {
        detail = "";
      }
      throw new Error(`HTTP ${response.status}${detail ? `: ${detail}` : ""}`);
    }
    return response.json();
  }

  // `next` is an absolute URL; follow it on this page's origin.
  function sameOrigin(url) {
    const parsed = new URL(url, location.href);
    return parsed.pathname + parsed.search;
  }

  async function loadRange() {
    const gen = ++generation;
    if (controller) controller.abort();
    clearTimeout(retryTimer);
    controller = new AbortController();
    const spec = range;
    const start = new Date(Date.now() - spec.seconds * 1000).toISOString();
    root.dataset.state = "loading";
    rangeState.textContent = "loading…";
    try {
      if (spec.source === "raw") {
        let url = `${config.rawUrl}?start=${encodeURIComponent(start)}&limit=${config.rawLimit}`;
        root.dataset.request = url;
        const got = [];
        let pages = 0;
        let more = false;
        while (url) {
          const page = await getPage(url, controller.signal);
          got.push(...(page.results || []));
          pages += 1;
          url = page.next ? sameOrigin(page.next) : null;
          if (url && pages >= MAX_RAW_PAGES) {
            more = true;
            url = null;
          }
        }
        if (gen !== generation) return;
        truncated = more;
        add(got);
      } else {
        const url = `${config.hourlyUrl}?start=${encodeURIComponent(start)}`;
        root.dataset.request = url;
        const page = await getPage(url, controller.signal);
        if (gen !== generation) return;
        truncated = false;
        hourly = (page.results || [])
          .map((row) => Object.assign({}, row, { t: Date.parse(row.bucket) }))
          .filter((row) => !Number.isNaN(row.t))
          .sort((a, b) => a.t - b.t);
        if (hourly.length) setEmpty(false);
      }
      root.dataset.state = "ready";
      rangeState.textContent = truncated
        ? `too many readings: showing the newest ${raw.length.toLocaleString()} of the range`
        : "";
    } catch (err) {
      if (gen !== generation || err.name === "AbortError") return;
      console.warn("range unavailable", err);
      root.dataset.state = "error";
      rangeState.textContent = `${spec.title} could not be loaded (${err.message}); retrying in ${RETRY_LOAD_MS / 1000} s`;
      retryTimer = setTimeout(() => {
        if (gen === generation) loadRange();
      }, RETRY_LOAD_MS);
    }
    scheduleRender();
  }

  // --- Choosing a range ---------------------------------------------------------------
  const rangeLinks = Array.from(document.querySelectorAll("#ranges a.range"));

  function rangeFromUrl() {
    const key = (new URL(location.href).searchParams.get("range") || "").trim().toLowerCase();
    return config.ranges[key] ? key : "24h";
  }

  function setRange(key, how) {
    range = config.ranges[key] || config.ranges["24h"];
    if (how) {
      const url = new URL(location.href);
      url.searchParams.set("range", range.key);
      history[how === "push" ? "pushState" : "replaceState"]({ range: range.key }, "", url);
    }
    for (const link of rangeLinks) {
      if (link.dataset.range === range.key) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    root.dataset.range = range.key;
    root.dataset.source = range.source;
    document.getElementById("legend").textContent = range.legend;
    document.getElementById("range-title").textContent = range.title;
    document.getElementById("count-what").textContent = range.source === "raw" ? "readings" : "hourly averages";
    raw = [];
    rawTimes.clear();
    hourly = [];
    truncated = false;
    loadRange();
    render();
  }

  for (const link of rangeLinks) {
    link.addEventListener("click", (event) => {
      // A new tab or window keeps the browser's own way.
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      const notice = document.getElementById("range-notice");
      if (notice) notice.hidden = true;
      if (link.dataset.range !== range.key) setRange(link.dataset.range, "push");
    });
  }
  window.addEventListener("popstate", () => {
    const key = rangeFromUrl();
    if (key !== range.key) setRange(key, null);
  });

  // --- Drawing ------------------------------------------------------------------------
  let renderPending = false;
  function scheduleRender() {
    if (renderPending) return;
    renderPending = true;
    requestAnimationFrame(render);
  }

  // Times in the viewer's zone (config.timeZone, the console's), written as the console
  // writes them: "2026-12-07 13:35"; axis labels "13:00", "Mon 7", "12-07". A "wall" time
  // is the zone's clock reading at an instant, as milliseconds read with the UTC getters.
  let zoneParts;
  try {
    zoneParts = new Intl.DateTimeFormat("en-US", {
      timeZone: config.timeZone || undefined, hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    });
  } catch (e) { // an unknown zone: the browser's
    zoneParts = new Intl.DateTimeFormat("en-US", { hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  }
  const QUARTER = 15 * 60 * 1000; // zones change their offset on quarter hours at most
  const offsets = new Map();
  function offset(t) {
    const key = Math.floor(t / QUARTER);
    if (!offsets.has(key)) {
      const p = {};
      for (const part of zoneParts.formatToParts(key * QUARTER)) p[part.type] = Number(part.value);
      offsets.set(key, Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - key * QUARTER);
    }
    return offsets.get(key);
  }
  const wallTime = (t) => t + offset(t);
  const fromWall = (w) => w - offset(w - offset(w));
  const pad = (n) => String(n).padStart(2, "0");
  const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const hourLabel = (w) => `${pad(w.getUTCHours())}:${pad(w.getUTCMinutes())}`;
  const dayLabel = (w) => `${WEEKDAYS[w.getUTCDay()]} ${w.getUTCDate()}`;
  const dateLabel = (w) => `${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())}`;
  function stamp(t) {
    const w = new Date(wallTime(t));
    return `${w.getUTCFullYear()}-${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())} ${hourLabel(w)}`;
  }

  // Ticks at round times of the zone: hours for a day, days (weekday and date) for longer.
  function timeTicks(t0, t1, plotWidth) {
    const most = Math.max(2, Math.floor(plotWidth / 60));
    const hours = [1, 2, 3, 6, 12];
    const days = [1, 2, 3, 5, 7, 10, 14];
    const span = t1 - t0;
    const ticks = [];
    const stepHours = hours.find((h) => span / (h * HOUR) <= most);
    if (stepHours) {
      const step = stepHours * HOUR; // divides a day: multiples are round wall hours
      for (let w = Math.ceil(wallTime(t0) / step) * step; fromWall(w) <= t1; w += step) {
        const d = new Date(w);
        if (fromWall(w) >= t0) ticks.push({ t: fromWall(w), label: d.getUTCHours() === 0 ? dayLabel(d) : hourLabel(d) });
      }
      return ticks;
    }
    const stepDays = days.find((n) => span / (n * DAY) <= most) || 30;
    const format = span <= 8 * DAY ? dayLabel : dateLabel;
    for (let w = Math.floor(wallTime(t0) / DAY) * DAY; fromWall(w) <= t1; w += DAY) {
      if (fromWall(w) >= t0 && Math.round(w / DAY) % stepDays === 0) ticks.push({ t: fromWall(w), label: format(new Date(w)) });
    }
    return ticks;
  }

  // About `count` round values (1, 2 or 5 × 10^n apart) covering min..max.
  function valueTicks(min, max, count) {
    if (max - min < 1e-9) {
      const pad = Math.max(Math.abs(min) * 0.02, 0.5);
      min -= pad;
      max += pad;
    }
    const rough = (max - min) / (count - 1);
    const magnitude = Math.pow(10, Math.floor(Math.log10(rough)));
    const norm = rough / magnitude;
    const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
    const lo = Math.floor(min / step) * step;
    const hi = Math.ceil(max / step) * step;
    const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    const ticks = [];
    for (let i = 0; lo + i * step <= hi + step / 2 && i < 20; i++) {
      const v = lo + i * step;
      ticks.push(Math.abs(v) < step / 1e6 ? 0 : v); // no "-0.0"
    }
    return { lo, hi, ticks, decimals };
  }

  // Split time-ordered points where the gap between two is larger than `gap`.
  function segments(points, gap) {
    const out = [];
    let current = [];
    for (const p of points) {
      if (current.length && p.t - current[current.length - 1].t > gap) {
        out.push(current);
        current = [];
      }
      current.push(p);
    }
    if (current.length) out.push(current);
    return out;
  }

  function median(values) {
    if (!values.length) return 0;
    const sorted = values.slice().sort((a, b) => a - b);
    return sorted[sorted.length >> 1];
  }

  function plural(n, what) {
    return `${n.toLocaleString()} ${what}${n === 1 ? "" : "s"}`;
  }

  function render() {
    renderPending = false;
    // The axis ends now, or at a reading stamped a little ahead of this browser's clock.
    const now = Math.max(Date.now(), raw.length ? raw[raw.length - 1].t : 0);
    const t0 = windowStart(now);
    prune(t0);
    const inRange = range.source === "raw" ? raw.length : hourly.filter((row) => row.t + HOUR > t0).length;
    document.getElementById("count").textContent = inRange.toLocaleString();
    document.getElementById("live-count").textContent =
      range.source === "hourly" && raw.length ? ` (+ ${plural(raw.length, "live reading")})` : "";
    if (newest) document.getElementById("updated").textContent = stamp(newest.t);
    showFreshness();
    for (const chart of charts) draw(chart, t0, now);
  }

  function draw(chart, t0, t1) {
    const metric = chart.metric;
    const known = latest[metric];
    chart.latest.textContent = known ? `${known.value.toFixed(chart.decimals)} ${chart.unit}` : "–";
    chart.latest.title = known ? `at ${stamp(known.t)}` : "";

    const has = (v) => v !== null && v !== undefined;
    let line, band = [], dots = [], gap;
    if (range.source === "raw") {
      line = raw.filter((r) => has(r[metric])).map((r) => ({ t: r.t, v: r[metric] }));
      const steps = [];
      for (let i = 1; i < line.length && i < 2000; i++) steps.push(line[i].t - line[i - 1].t);
      gap = Math.max(3 * median(steps), (t1 - t0) / 96);
    } else {
      // An hour's average is drawn at the middle of the hour (of its elapsed part for
      // the current hour).
      const rows = hourly.filter((row) => row.t + HOUR > t0 && has(row[`${metric}_avg`]));
      const at = (row) => row.t + Math.min(HOUR, Math.max(0, t1 - row.t)) / 2;
      line = rows.map((row) => ({ t: at(row), v: row[`${metric}_avg`] }));
      band = rows.map((row) => ({ t: at(row), lo: row[`${metric}_min`], hi: row[`${metric}_max`] }));
      dots = raw.filter((r) => has(r[metric])).map((r) => ({ t: r.t, v: r[metric] }));
      gap = 1.5 * HOUR;
    }

    const canvas = chart.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.clearRect(0, 0, width, height);
    const pad = { left: 52, right: 14, top: 24, bottom: 24 };
    const plotW = Math.max(10, width - pad.left - pad.right);
    const plotH = Math.max(10, height - pad.top - pad.bottom);
    const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * plotW;

    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    // Time axis: the whole range, whether or not there are points.
    const ticks = timeTicks(t0, t1, plotW);
    ctx.textBaseline = "alphabetic";
    ctx.textAlign = "center";
    for (const tick of ticks) {
      const px = Math.round(x(tick.t)) + 0.5;
      ctx.strokeStyle = "#eee";
      ctx.beginPath(); ctx.moveTo(px, pad.top); ctx.lineTo(px, pad.top + plotH); ctx.stroke();
      const w = ctx.measureText(tick.label).width;
      const lx = Math.min(Math.max(px, pad.left + w / 2), width - w / 2 - 1);
      ctx.fillStyle = "#666";
      ctx.fillText(tick.label, lx, height - 6);
    }
    ctx.strokeStyle = "#bbb";
    ctx.beginPath();
    ctx.moveTo(pad.left + 0.5, pad.top); ctx.lineTo(pad.left + 0.5, pad.top + plotH);
    ctx.lineTo(pad.left + plotW, pad.top + plotH);
    ctx.stroke();
    // The unit, above the value axis.
    ctx.fillStyle = "#444";
    ctx.textAlign = "right";
    ctx.fillText(chart.unit, pad.left - 6, 12);

    canvas.dataset.xStart = new Date(t0).toISOString();
    canvas.dataset.xEnd = new Date(t1).toISOString();
    canvas.dataset.ticks = ticks.map((tick) => tick.label).join("|");
    canvas.dataset.yUnit = chart.unit;
    canvas.dataset.points = String(line.length);
    canvas.dataset.livePoints = String(dots.length);
    const what = range.source === "raw" ? "readings" : "hourly averages";
    canvas.setAttribute(
      "aria-label",
      `${chart.label} in ${chart.unit}, ${range.title.toLowerCase()}: ${line.length} ${what}` +
        (dots.length ? `, ${plural(dots.length, "live reading")}` : "") +
        (known ? `; latest ${known.value.toFixed(chart.decimals)} ${chart.unit}` : ""),
    );

    const values = [];
    for (const p of line) values.push(p.v);
    for (const b of band) {
      if (has(b.lo)) values.push(b.lo);
      if (has(b.hi)) values.push(b.hi);
    }
    for (const p of dots) values.push(p.v);
    if (!values.length) {
      ctx.fillStyle = "#888";
      ctx.textAlign = "center";
      let message = `No ${chart.label.toLowerCase()} readings in the ${range.title.toLowerCase()}`;
      if (root.dataset.state === "loading") message = "Loading…";
      else if (root.dataset.state === "error") message = "Could not load this range";
      else if (emptyEl && !emptyEl.hidden) message = "Waiting for the first reading…";
      ctx.fillText(message, pad.left + plotW / 2, pad.top + plotH / 2);
      return;
    }
    let min = Infinity, max = -Infinity;
    for (const v of values) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const scale = valueTicks(min, max, 5);
    const y = (v) => pad.top + (1 - (v - scale.lo) / (scale.hi - scale.lo)) * plotH;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of scale.ticks) {
      const py = Math.round(y(v)) + 0.5;
      ctx.strokeStyle = "#eee";
      ctx.beginPath(); ctx.moveTo(pad.left + 1, py); ctx.lineTo(pad.left + plotW, py); ctx.stroke();
      ctx.fillStyle = "#666";
      ctx.fillText(v.toFixed(scale.decimals), pad.left - 6, py);
    }
    canvas.dataset.yTicks = scale.ticks.map((v) => v.toFixed(scale.decimals)).join("|");

    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.left, pad.top - 4, plotW + 4, plotH + 8);
    ctx.clip();
    const color = "#d48806";
    // The hourly min–max band.
    ctx.fillStyle = "rgba(212, 136, 6, 0.18)";
    for (const part of segments(band.filter((b) => has(b.lo) && has(b.hi)), gap)) {
      ctx.beginPath();
      part.forEach((b, i) => (i ? ctx.lineTo(x(b.t), y(b.hi)) : ctx.moveTo(x(b.t), y(b.hi))));
      for (let i = part.length - 1; i >= 0; i--) ctx.lineTo(x(part[i].t), y(part[i].lo));
      ctx.closePath();
      if (part.length === 1) {
        ctx.fillRect(x(part[0].t) - 1.5, y(part[0].hi), 3, Math.max(1, y(part[0].lo) - y(part[0].hi)));
      } else {
        ctx.fill();
      }
    }
    // The line, broken where the sensor was silent; few or lone points also as dots.
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 1.5;
    const showDots = line.length <= 60;
    for (const part of segments(line, gap)) {
      ctx.beginPath();
      part.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p.v)) : ctx.moveTo(x(p.t), y(p.v))));
      ctx.stroke();
      if (showDots || part.length === 1) {
        for (const p of part) {
          ctx.beginPath(); ctx.arc(x(p.t), y(p.v), 2, 0, 2 * Math.PI); ctx.fill();
        }
      }
    }
    // Readings received live over the hourly line.
    ctx.fillStyle = "#7a3e00";
    for (const p of dots) {
      ctx.beginPath(); ctx.arc(x(p.t), y(p.v), 2.5, 0, 2 * Math.PI); ctx.fill();
    }
    // The newest point stands out.
    const last = [line[line.length - 1], dots[dots.length - 1]].filter(Boolean).sort((a, b) => b.t - a.t)[0];
    if (last) {
      ctx.fillStyle = color;
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.arc(x(last.t), y(last.v), 4, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
    }
    ctx.restore();
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
    if (!Number.isNaN(when)) el.textContent = stamp(when);
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
    ackButton(li, alert.status === "open" && !ended);
    countAlerts();
  }

  // The "Acknowledge" button of an open alert (as the page's template writes it).
  function ackButton(li, wanted) {
    const form = li.querySelector("form.alert-ack-form");
    if (!wanted || !config.acknowledgeUrl) {
      if (form) form.remove();
      return;
    }
    if (form) return;
    const made = document.createElement("form");
    made.className = "alert-ack-form";
    made.method = "post";
    made.action = config.acknowledgeUrl.replace(/\/0\/acknowledge$/, `/${Number(li.dataset.alertId)}/acknowledge`);
    const token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrfmiddlewaretoken";
    token.value = alertsEl.dataset.csrf || "";
    const button = document.createElement("button");
    button.type = "submit";
    button.className = "alert-ack";
    button.textContent = "Acknowledge";
    made.append(token, button);
    li.appendChild(made);
  }

  async function acknowledge(form) {
    const li = form.closest("li.alert");
    const button = form.querySelector("button");
    const error = li.querySelector(".alert-ack-error");
    if (error) error.remove();
    button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": alertsEl.dataset.csrf || "" },
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        const detail = body.detail || Object.values(body).flat().join(" ") || `HTTP ${response.status}`;
        throw new Error(detail);
      }
      showAlert(body);
    } catch (err) {
      button.disabled = false;
      const note = document.createElement("span");
      note.className = "alert-ack-error";
      note.setAttribute("role", "alert");
      note.textContent = `Not acknowledged: ${err.message}`;
      li.appendChild(note);
    }
  }

  alertList.addEventListener("submit", (event) => {
    const form = event.target.closest("form.alert-ack-form");
    if (!form) return;
    event.preventDefault();
    acknowledge(form);
  });

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

  // --- The stream and its badge -------------------------------------------------------
  let connected = false; // the server answered with the hive's history, still listening

  function setStatus(text, cls) {
    connected = false;
    delete statusEl.dataset.silentSince;
    badge(text, cls, "The live stream of this hive's readings");
  }

  function badge(text, cls, title) {
    statusEl.textContent = text;
    statusEl.className = `status ${cls}`;
    statusEl.dataset.state = cls;
    if (title !== undefined) statusEl.title = title;
  }

  // Connected: is the sensor sending? Silent once its newest reading is older than the
  // no_data rule (or the overview's "stale") allows; checked again as the clock moves.
  function showFreshness() {
    if (!connected) return;
    delete statusEl.dataset.silentSince;
    if (!newest) {
      badge("connected · no readings yet", "waiting", "Connected; this hive's sensor has not sent a reading yet.");
      return;
    }
    const since = new Date(newest.t);
    if (Date.now() - newest.t > config.silentAfterSeconds * 1000) {
      statusEl.dataset.silentSince = since.toISOString();
      badge(
        `connected · sensor silent since ${stamp(newest.t)}`,
        "silent",
        `Connected, but no reading for more than ${Math.round(config.silentAfterSeconds / 60)} min.`,
      );
    } else {
      badge("live", "live", `Connected; last reading ${stamp(newest.t)}.`);
    }
  }

  // The badge says what the socket really is: "live" only once the server has answered
  // with the hive's history, never merely because a connection opened; and no longer
  // "live" once the server stops answering the page's pings (a network that drops
  // silently, a laptop waking up), which would otherwise take minutes to notice.
  // Close codes that end the stream for good (monitoring/consumers.py).
  const FINAL = {
    4401: "closed: signed out",
    4404: "closed: hive not found or no longer shared with you",
  };
  // Close codes worth a retry, with what to tell the user meanwhile.
  const TRANSIENT = {
    4429: "too many open streams",
    4503: "telemetry database unavailable",
  };
  const PING_EVERY_MS = 20000;
  const PONG_WITHIN_MS = 10000;
  const CONNECT_WITHIN_MS = 30000;
  let retry = 1000;
  let reconnectTimer = null;
  let connectedBefore = false;

  function reconnectLater(why) {
    setStatus(`reconnecting in ${Math.round(retry / 1000)} s (${why})`, "connecting");
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, retry);
    retry = Math.min(retry * 2, 30000);
  }

  function connect() {
    reconnectTimer = null;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    setStatus("connecting…", "connecting");
    const socket = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}`);
    const opened = Date.now();
    let heard = 0; // when the server last said anything
    let pinged = 0; // when the page last asked it to
    // Timers of background tabs may run late: what counts is that a ping went unanswered
    // (for PONG_WITHIN_MS at least), never merely the time since the last message.
    const pinger = setInterval(() => {
      const now = Date.now();
      const connecting = socket.readyState === WebSocket.CONNECTING;
      const unanswered = pinged && heard < pinged && now - pinged > PONG_WITHIN_MS;
      if (unanswered || (connecting && now - opened > CONNECT_WITHIN_MS)) {
        clearInterval(pinger);
        socket.onclose = null;
        socket.onmessage = null;
        socket.close();
        reconnectLater("no answer from the server");
      } else if (socket.readyState === WebSocket.OPEN && heard >= pinged) {
        pinged = now;
        socket.send(JSON.stringify({ type: "ping" }));
      }
    }, PING_EVERY_MS);
    socket.onopen = () => {
      heard = Date.now();
    };
    socket.onmessage = (event) => {
      heard = Date.now();
      const message = JSON.parse(event.data);
      if (message.type === "history" || message.type === "readings") {
        connected = true;
        retry = 1000;
        if (message.type === "history") {
          // The last readings of the device: none at all means it never sent any.
          if (!message.readings.length && !newest && !hourly.length) setEmpty(true);
          // Back after an interruption: load the range again for what was missed.
          if (connectedBefore) loadRange();
          connectedBefore = true;
        }
        add(message.readings);
        showFreshness();
        if (message.type === "history") syncAlerts();
      } else if (message.type === "alert") {
        alertMessage(message);
      }
    };
    socket.onclose = (event) => {
      clearInterval(pinger);
      if (FINAL[event.code]) {
        setStatus(FINAL[event.code], "closed");
        return;
      }
      reconnectLater(TRANSIENT[event.code] || "connection lost");
    };
  }

  window.addEventListener("offline", () => {
    if (statusEl.dataset.state !== "closed") setStatus("offline: no network", "connecting");
  });
  window.addEventListener("online", () => {
    if (reconnectTimer) {
      clearTimeout(reconnectTimer);
      retry = 1000;
      connect();
    }
  });

  window.addEventListener("resize", scheduleRender);
  // The axis ends now: slide it along (and drop what falls out of the window).
  setInterval(scheduleRender, 30000);
  // A ?range= the server did not know is shown as 24 h (with its notice): the address
  // says so too, so that a reload or a copied link shows what is on screen.
  const asked = new URL(location.href).searchParams.get("range");
  setRange(range.key, asked !== null && asked !== range.key ? "replace" : null);
  connect();
})();
