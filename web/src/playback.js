// Track playback: one vehicle's stored fixes over a time range, animated
// at 1× to 60× real time, with its deviations marked on the timeline and
// on the map.
import L from "leaflet";
import { get, query } from "./api.js";
import { el, $, setOptions, localInputToISO, dateToLocalInput } from "./dom.js";
import { t, formatTime, currentLanguage } from "./i18n/index.js";
import { getMap, toDisplay } from "./map.js";
import { state, on } from "./state.js";

const TRACK_LIMIT = 100000;

let layer = null;
let marker = null;
let fixes = [];
let times = [];
let startMs = 0;
let endMs = 0;
let cursorMs = 0;
let playing = false;
let lastFrame = 0;
let frameId = 0;

export function initPlayback() {
  layer = L.layerGroup();
  const now = new Date();
  $("playback-to").value = dateToLocalInput(new Date(now.getTime() + 60000));
  $("playback-from").value = dateToLocalInput(new Date(now.getTime() - 3600000));
  on("fleet", fillVehicles);
  $("playback-form").addEventListener("submit", (e) => {
    e.preventDefault();
    load();
  });
  $("playback-play").addEventListener("click", () => (playing ? pause() : play()));
  $("timeline-range").addEventListener("input", (e) => {
    seek(startMs + (Number(e.target.value) / 1000) * (endMs - startMs));
  });
}

// showPlayback shows or hides the playback overlays and timeline.
export function showPlayback(visible) {
  const map = getMap();
  if (visible) {
    layer.addTo(map);
    $("timeline").hidden = fixes.length === 0;
  } else {
    pause();
    map.removeLayer(layer);
    $("timeline").hidden = true;
  }
}

function fillVehicles() {
  const vehicles = [...state.vehicles.values()].sort((a, b) => a.terminal.localeCompare(b.terminal));
  setOptions($("playback-vehicle"), vehicles.map((v) => [v.terminal, v.plate || v.terminal]));
}

function setStatus(text, isError) {
  const node = $("playback-status");
  node.textContent = text;
  node.classList.toggle("error", Boolean(isError));
}

async function load() {
  pause();
  const terminal = $("playback-vehicle").value;
  const from = localInputToISO($("playback-from").value);
  const to = localInputToISO($("playback-to").value);
  if (!terminal || !from || !to) {
    setStatus(t("playback.missingInput"), true);
    return;
  }
  setStatus(t("common.loading"));
  try {
    const [track, devs] = await Promise.all([
      get(`/api/v1/vehicles/${encodeURIComponent(terminal)}/track` + query({ from, to, limit: TRACK_LIMIT })),
      get("/api/v1/deviations" + query({ terminal, from, to })),
    ]);
    show(track, devs.deviations || []);
  } catch (err) {
    setStatus(t("error.load", { message: err.message }), true);
  }
}

function show(track, deviations) {
  layer.clearLayers();
  fixes = track.fixes || [];
  times = fixes.map((f) => Date.parse(f.time));
  $("timeline-marks").replaceChildren();
  $("playback-deviations").replaceChildren();
  if (fixes.length === 0) {
    $("playback-play").disabled = true;
    $("timeline").hidden = true;
    setStatus(t("playback.noFixes"));
    return;
  }
  startMs = times[0];
  endMs = Math.max(times[times.length - 1], startMs + 1000);
  const line = fixes.map((f) => toDisplay(f.lat, f.lon));
  const path = L.polyline(line, { className: "playback-path", color: "#6b4fbb", weight: 3, opacity: 0.6 }).addTo(layer);
  marker = L.marker(line[0], {
    icon: L.divIcon({ className: "veh-icon", html: '<div class="veh state-playback"><span class="veh-dot"></span></div>', iconSize: [16, 16], iconAnchor: [8, 8] }),
  }).addTo(layer);
  getMap().fitBounds(path.getBounds(), { padding: [40, 40], maxZoom: 16, animate: false });

  for (const d of deviations) {
    markDeviation(d);
  }
  setStatus(t("playback.loaded", { count: fixes.length }) + (track.truncated ? ` ${t("playback.truncated")}` : ""));
  $("playback-play").disabled = false;
  $("timeline").hidden = false;
  seek(startMs);
}

function markDeviation(d) {
  const label = `${t(`kind.${d.kind}`)} ${formatTime(d.started_at)}`;
  L.circleMarker(toDisplay(d.lat, d.lon), { className: "playback-deviation", radius: 8, color: "#d93025", weight: 2, fillOpacity: 0.3 })
    .bindTooltip(`${label}: ${currentLanguage() === "en" ? d.text_en : d.text}`)
    .addTo(layer);
  const begin = Math.max(Date.parse(d.started_at), startMs);
  const finish = d.ended_at ? Math.min(Date.parse(d.ended_at), endMs) : endMs;
  const left = ((begin - startMs) / (endMs - startMs)) * 100;
  const width = Math.max(0.5, ((finish - begin) / (endMs - startMs)) * 100);
  $("timeline-marks").append(el("span", {
    class: `timeline-mark kind-${d.kind}`,
    style: `left:${Math.min(100, Math.max(0, left))}%;width:${Math.min(100, width)}%`,
    title: label,
  }));
  $("playback-deviations").append(el("li", {},
    el("button", { type: "button", class: "link", onclick: () => seek(begin) }, label)));
}

// positionAt interpolates the position at time ms between the two fixes
// around it.
function positionAt(ms) {
  let lo = 0;
  let hi = times.length - 1;
  if (ms <= times[0]) return [fixes[0], fixes[0], 0];
  if (ms >= times[hi]) return [fixes[hi], fixes[hi], 0];
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= ms) lo = mid;
    else hi = mid;
  }
  const span = times[hi] - times[lo];
  return [fixes[lo], fixes[hi], span > 0 ? (ms - times[lo]) / span : 0];
}

function seek(ms) {
  if (fixes.length === 0) {
    return;
  }
  cursorMs = Math.min(endMs, Math.max(startMs, ms));
  const [a, b, f] = positionAt(cursorMs);
  marker.setLatLng(toDisplay(a.lat + (b.lat - a.lat) * f, a.lon + (b.lon - a.lon) * f));
  $("timeline-range").value = String(Math.round(((cursorMs - startMs) / (endMs - startMs)) * 1000));
  const clock = $("playback-clock");
  clock.textContent = formatTime(new Date(cursorMs).toISOString());
  clock.dataset.ms = String(cursorMs);
}

function play() {
  if (fixes.length === 0) {
    return;
  }
  if (cursorMs >= endMs) {
    seek(startMs);
  }
  playing = true;
  $("playback-play").textContent = t("playback.pause");
  document.body.dataset.playback = "playing";
  lastFrame = performance.now();
  frameId = requestAnimationFrame(frame);
}

function pause() {
  playing = false;
  cancelAnimationFrame(frameId);
  $("playback-play").textContent = t("playback.play");
  document.body.dataset.playback = "paused";
}

function frame(now) {
  if (!playing) {
    return;
  }
  const speed = Number($("playback-speed").value) || 1;
  seek(cursorMs + (now - lastFrame) * speed);
  lastFrame = now;
  if (cursorMs >= endMs) {
    pause();
    return;
  }
  frameId = requestAnimationFrame(frame);
}
