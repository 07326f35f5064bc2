// Live map: vehicle markers fed by the server-sent event stream
// /api/v1/live, planned routes with their corridors, and the legend.
import L from "leaflet";
import { get, query } from "./api.js";
import { el, $ } from "./dom.js";
import { t, onLanguageChange } from "./i18n/index.js";
import { getMap, toDisplay, lineToDisplay, metresPerPixel } from "./map.js";
import { state, emit, on, vehicleStatus, STATUSES } from "./state.js";

const markers = new Map();
const routeLayers = new Map();
let liveLayer = null;
let source = null;
let statusTimer = 0;

export async function startLive() {
  liveLayer = L.layerGroup().addTo(getMap());
  getMap().on("zoomend", resizeCorridors);
  renderLegend();
  onLanguageChange(() => {
    renderLegend();
    for (const v of state.vehicles.values()) {
      updateMarker(v);
    }
  });
  on("deviation", ({ deviation }) => {
    const v = state.vehicles.get(deviation.terminal);
    if (v) {
      updateMarker(v);
    }
  });
  await reload();
  // Wait for the stream to open so that no event after start-up is missed,
  // but show the console anyway when it does not open within 5 s.
  await Promise.race([connect(), new Promise((resolve) => window.setTimeout(resolve, 5000))]);
  // Re-evaluate "no signal" even when no event arrives.
  statusTimer = window.setInterval(() => {
    for (const v of state.vehicles.values()) {
      updateMarker(v);
    }
  }, 30000);
}

export function stopLive() {
  if (source) {
    source.close();
    source = null;
  }
  window.clearInterval(statusTimer);
}

// showLiveLayer hides the live overlays during playback.
export function showLiveLayer(visible) {
  const map = getMap();
  if (!liveLayer) {
    return;
  }
  if (visible && !map.hasLayer(liveLayer)) {
    liveLayer.addTo(map);
  } else if (!visible && map.hasLayer(liveLayer)) {
    map.removeLayer(liveLayer);
  }
}

// reload reads the fleet, dispatched trips and open deviations. It runs at
// start and each time the event stream opens, because events sent while
// the stream was down are lost.
async function reload() {
  const [vehicles, trips, devs] = await Promise.all([
    get("/api/v1/vehicles"),
    get("/api/v1/trips" + query({ state: "dispatched" })),
    get("/api/v1/deviations" + query({ state: "open", limit: 1000 })),
  ]);
  for (const d of devs.deviations || []) {
    state.deviations.set(d.id, d);
  }
  state.trips.clear();
  for (const trip of trips.trips || []) {
    state.trips.set(trip.id, trip);
  }
  for (const v of vehicles.vehicles || []) {
    const known = state.vehicles.get(v.terminal);
    const merged = { ...known, ...v };
    // A position event may have arrived while the list was in flight.
    if (known && known.last_fix && (!v.last_fix || Date.parse(known.last_fix.time) > Date.parse(v.last_fix.time))) {
      merged.last_fix = known.last_fix;
    }
    state.vehicles.set(v.terminal, merged);
    updateMarker(merged);
  }
  drawRoutes();
  emit("fleet", null);
  emit("deviations-reloaded", null);
}

// connect opens the event stream and returns a promise that resolves when
// it first opens and the state has been read again. The browser reconnects
// by itself after an error, and every open reads the state again.
function connect() {
  setFeedStatus("connecting");
  source = new EventSource("/api/v1/live");
  let resolveOpened;
  const opened = new Promise((resolve) => {
    resolveOpened = resolve;
  });
  source.addEventListener("open", () => {
    setFeedStatus("connected");
    reload()
      .catch(() => setFeedStatus("error"))
      .finally(resolveOpened);
  });
  source.addEventListener("error", () => {
    setFeedStatus(source.readyState === EventSource.CLOSED ? "error" : "connecting");
  });
  source.addEventListener("position", (e) => handlePosition(JSON.parse(e.data)));
  source.addEventListener("vehicle", (e) => handleVehicle(JSON.parse(e.data)));
  source.addEventListener("deviation", (e) => {
    const d = JSON.parse(e.data);
    const isNew = !state.deviations.has(d.id);
    state.deviations.set(d.id, d);
    emit("deviation", { deviation: d, isNew });
  });
}

function setFeedStatus(s) {
  const node = $("feed-status");
  node.dataset.state = s;
  node.textContent = t(`feed.${s}`);
}

function handlePosition(p) {
  let v = state.vehicles.get(p.terminal);
  if (!v) {
    v = { terminal: p.terminal, plate: p.plate, online: true, last_fix: null, trip_id: "" };
    state.vehicles.set(p.terminal, v);
    emit("fleet", null);
  }
  // The server sends only fixes newer than the newest one; this check keeps
  // a replayed event from moving the marker backwards after a reconnect.
  if (v.last_fix && Date.parse(v.last_fix.time) > Date.parse(p.time)) {
    return;
  }
  v.plate = p.plate || v.plate;
  v.online = true;
  v.trip_id = p.trip_id || "";
  v.last_fix = { time: p.time, lat: p.lat, lon: p.lon, speed: p.speed, heading: p.heading };
  updateMarker(v);
  emit("position", v);
}

function handleVehicle(ev) {
  const v = state.vehicles.get(ev.terminal);
  if (!v) {
    reload().catch(() => setFeedStatus("error"));
    return;
  }
  v.online = Boolean(ev.online);
  updateMarker(v);
  emit("position", v);
}

function markerIcon(v, status) {
  const html = el(
    "div",
    { class: `veh state-${status}`, dataset: { terminal: v.terminal, status } },
    el("span", { class: "veh-dot" }),
    el("span", { class: "veh-label" }, v.plate || v.terminal),
  );
  return L.divIcon({ className: "veh-icon", html, iconSize: [16, 16], iconAnchor: [8, 8] });
}

function updateMarker(v) {
  if (!liveLayer) {
    return;
  }
  const existing = markers.get(v.terminal);
  if (!v.last_fix) {
    if (existing) {
      liveLayer.removeLayer(existing.marker);
      markers.delete(v.terminal);
    }
    return;
  }
  const pos = toDisplay(v.last_fix.lat, v.last_fix.lon);
  const status = vehicleStatus(v);
  if (!existing) {
    const marker = L.marker(pos, { icon: markerIcon(v, status), keyboard: true, title: v.plate || v.terminal });
    marker.on("click", () => emit("select-vehicle", v.terminal));
    marker.addTo(liveLayer);
    markers.set(v.terminal, { marker, status, plate: v.plate });
    return;
  }
  existing.marker.setLatLng(pos);
  if (existing.status !== status || existing.plate !== v.plate) {
    existing.marker.setIcon(markerIcon(v, status));
    existing.status = status;
    existing.plate = v.plate;
  }
}

// drawRoutes draws each dispatched trip's planned route over a translucent
// band as wide as its corridor.
function drawRoutes() {
  for (const layers of routeLayers.values()) {
    for (const layer of layers) {
      liveLayer.removeLayer(layer);
    }
  }
  routeLayers.clear();
  for (const trip of state.trips.values()) {
    if (!trip.route || !Array.isArray(trip.route.coordinates)) {
      continue;
    }
    const line = lineToDisplay(trip.route.coordinates);
    const corridor = L.polyline(line, { className: "corridor", color: "#2f7de1", opacity: 0.18, lineCap: "round", lineJoin: "round", interactive: false });
    corridor.corridorMetres = trip.corridor_m;
    const route = L.polyline(line, { className: "route", color: "#2f7de1", weight: 2, dashArray: "6 4" });
    route.bindTooltip(`${t("details.trip")} ${trip.id}`);
    corridor.addTo(liveLayer);
    route.addTo(liveLayer);
    routeLayers.set(trip.id, [corridor, route]);
  }
  resizeCorridors();
}

function resizeCorridors() {
  const map = getMap();
  const zoom = map.getZoom();
  for (const [corridor] of routeLayers.values()) {
    const lat = corridor.getBounds().getCenter().lat;
    const px = corridor.corridorMetres / metresPerPixel(lat, zoom);
    corridor.setStyle({ weight: Math.max(2, px) });
  }
}

function renderLegend() {
  const legend = $("legend");
  legend.replaceChildren(
    el("strong", {}, t("legend.title")),
    ...STATUSES.map((s) => el("div", { class: "legend-row" }, el("span", { class: `legend-swatch state-${s}` }), t(`status.${s}`))),
    el("div", { class: "legend-row" }, el("span", { class: "legend-line route" }), t("legend.route")),
    el("div", { class: "legend-row" }, el("span", { class: "legend-line corridor" }), t("legend.corridor")),
    el("div", { class: "legend-row" }, el("span", { class: "legend-swatch zone" }), t("legend.zone")),
  );
}

// focusVehicle centres the map on a vehicle's last position.
export function focusVehicle(terminal) {
  const v = state.vehicles.get(terminal);
  if (v && v.last_fix) {
    getMap().panTo(toDisplay(v.last_fix.lat, v.last_fix.lon));
  }
}
