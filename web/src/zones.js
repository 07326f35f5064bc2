// Zones: list, draw and edit polygons and circles, delete, and import a
// GeoJSON file. A drawn route is shown as a WGS-84 GeoJSON LineString to
// paste into a trip's route, because the zone API stores areas only.
//
// Shapes are drawn in the display CRS. On GCJ-02 tiles the console sends
// them with the property crs: "gcj02" and the server converts them to
// WGS-84, so the console never needs the inverse formula.
import L from "leaflet";
import "@geoman-io/leaflet-geoman-free";
import { get, post, put, del } from "./api.js";
import { el, $, setOptions } from "./dom.js";
import { t, onLanguageChange } from "./i18n/index.js";
import { getMap, getDisplayCrs, geometryToLayer, layerToGeometry, fromDisplay } from "./map.js";
import { hasRole } from "./state.js";

const ZONE_KINDS = ["restricted", "site", "speed_limit", "jurisdiction"];
const zoneStyle = (kind) => ({ className: `zone zone-${kind}`, weight: 2, fillOpacity: 0.15 });

let zoneLayer = null;
let zones = [];
const layersById = new Map();
// pending is the shape being created ({layer}) or edited ({layer, zone}).
let pending = null;
let routeLayer = null;

export async function initZones() {
  const map = getMap();
  zoneLayer = L.layerGroup().addTo(map);
  map.pm.setLang(getLangForGeoman());
  setOptions($("zone-kind"), ZONE_KINDS.map((k) => [k, t(`zoneKind.${k}`)]));
  onLanguageChange(() => {
    setOptions($("zone-kind"), ZONE_KINDS.map((k) => [k, t(`zoneKind.${k}`)]));
    map.pm.setLang(getLangForGeoman());
    renderList();
  });

  for (const button of document.querySelectorAll("[data-draw]")) {
    button.addEventListener("click", () => startDraw(button.dataset.draw));
  }
  map.on("pm:create", (e) => finishDraw(e.layer, e.shape));
  $("zone-form").addEventListener("submit", (e) => {
    e.preventDefault();
    save();
  });
  $("zone-cancel").addEventListener("click", cancel);
  $("zone-import").addEventListener("change", (e) => importFile(e.target.files[0]));
  $("route-clear").addEventListener("click", clearRoute);
  await load();
}

function getLangForGeoman() {
  return document.documentElement.lang === "en" ? "en" : "zh";
}

function setStatus(text, isError) {
  const node = $("zone-status");
  node.textContent = text;
  node.classList.toggle("error", Boolean(isError));
}

async function load() {
  const resp = await get("/api/v1/zones");
  zones = resp.zones || [];
  zoneLayer.clearLayers();
  layersById.clear();
  for (const z of zones) {
    const layer = geometryToLayer(z.feature, zoneStyle(z.kind));
    if (!layer) {
      continue;
    }
    layer.bindTooltip(z.name);
    layer.addTo(zoneLayer);
    layersById.set(z.id, layer);
  }
  renderList();
}

function renderList() {
  const canEdit = hasRole("admin", "dispatcher");
  $("zone-list").replaceChildren(...zones.map((z) => el("li", { class: "zone-item", dataset: { id: z.id } },
    el("span", { class: `zone-swatch zone-${z.kind}` }),
    el("button", { type: "button", class: "link zone-name", onclick: () => focus(z.id) }, z.name),
    el("span", { class: "muted" }, t(`zoneKind.${z.kind}`)),
    canEdit ? el("button", { type: "button", class: "link", onclick: () => startEdit(z) }, t("common.edit")) : null,
    canEdit ? el("button", { type: "button", class: "link danger", onclick: () => remove(z) }, t("common.delete")) : null,
  )));
}

function focus(id) {
  const layer = layersById.get(id);
  if (layer) {
    getMap().fitBounds(layer.getBounds(), { maxZoom: 15, padding: [30, 30] });
  }
}

function startDraw(shape) {
  cancel();
  clearRoute();
  getMap().pm.enableDraw(shape, { snappable: false, allowSelfIntersection: false });
  setStatus(t("zones.drawHint"));
}

function finishDraw(layer, shape) {
  if (shape === "Line") {
    routeLayer = layer;
    const { geometry } = layerToGeometry(layer);
    const coordinates = geometry.coordinates.map(([lon, lat]) => {
      const [wLat, wLon] = fromDisplay(lat, lon);
      return [Number(wLon.toFixed(6)), Number(wLat.toFixed(6))];
    });
    $("route-geojson").value = JSON.stringify({ type: "LineString", coordinates });
    $("route-output").hidden = false;
    setStatus("");
    return;
  }
  pending = { layer };
  $("zone-name").value = "";
  $("zone-kind").value = "restricted";
  $("zone-level").value = "";
  $("zone-speed").value = "";
  $("zone-form").hidden = false;
  $("zone-name").focus();
  setStatus("");
}

function clearRoute() {
  if (routeLayer) {
    getMap().removeLayer(routeLayer);
    routeLayer = null;
  }
  $("route-output").hidden = true;
}

function startEdit(zone) {
  cancel();
  const layer = layersById.get(zone.id);
  if (!layer) {
    return;
  }
  pending = { layer, zone };
  layer.pm.enable({ allowSelfIntersection: false });
  const props = zone.feature.properties || {};
  $("zone-name").value = zone.name;
  $("zone-kind").value = zone.kind;
  $("zone-level").value = props.level ?? "";
  $("zone-speed").value = props.speed_limit_kmh ?? "";
  $("zone-form").hidden = false;
  focus(zone.id);
  setStatus(t("zones.editHint"));
}

function cancel() {
  getMap().pm.disableDraw();
  if (pending) {
    pending.layer.pm.disable();
    if (!pending.zone) {
      getMap().removeLayer(pending.layer);
    }
    pending = null;
    if (layersById.size > 0 || zones.length > 0) {
      load().catch((err) => setStatus(t("error.load", { message: err.message }), true));
    }
  }
  $("zone-form").hidden = true;
}

// featureFromForm builds the GeoJSON Feature the zone API takes from the
// pending shape and the form. Properties of an edited zone that the form
// does not show (such as window) are kept.
function featureFromForm() {
  const { geometry, radius } = layerToGeometry(pending.layer);
  const base = pending.zone ? { ...(pending.zone.feature.properties || {}) } : {};
  const props = { ...base, name: $("zone-name").value.trim(), kind: $("zone-kind").value, crs: getDisplayCrs() };
  delete props.radius_m;
  delete props.level;
  delete props.speed_limit_kmh;
  if (radius > 0) props.radius_m = radius;
  if ($("zone-level").value !== "") props.level = Number($("zone-level").value);
  if ($("zone-speed").value !== "") props.speed_limit_kmh = Number($("zone-speed").value);
  return { type: "Feature", geometry, properties: props };
}

async function save() {
  if (!pending) {
    return;
  }
  const feature = featureFromForm();
  try {
    if (pending.zone) {
      await put(`/api/v1/zones/${encodeURIComponent(pending.zone.id)}`, feature);
      setStatus(t("zones.updated", { name: feature.properties.name }));
    } else {
      await post("/api/v1/zones", feature);
      setStatus(t("zones.created", { name: feature.properties.name }));
    }
    pending.layer.pm.disable();
    if (!pending.zone) {
      getMap().removeLayer(pending.layer);
    }
    pending = null;
    $("zone-form").hidden = true;
    await load();
  } catch (err) {
    setStatus(t("error.action", { message: err.message }), true);
  }
}

async function remove(zone) {
  if (!window.confirm(t("zones.confirmDelete", { name: zone.name }))) {
    return;
  }
  try {
    await del(`/api/v1/zones/${encodeURIComponent(zone.id)}`);
    setStatus(t("zones.deleted", { name: zone.name }));
    await load();
  } catch (err) {
    setStatus(t("error.action", { message: err.message }), true);
  }
}

// importFile posts every Feature of a GeoJSON file (a Feature or a
// FeatureCollection) as a zone. The file's positions are taken as given
// by its own crs property, WGS-84 when absent.
async function importFile(file) {
  if (!file) {
    return;
  }
  $("zone-import").value = "";
  let features;
  try {
    const doc = JSON.parse(await file.text());
    features = doc.type === "FeatureCollection" ? doc.features : [doc];
    if (!Array.isArray(features) || features.some((f) => !f || f.type !== "Feature")) {
      throw new Error(t("zones.importNotFeatures"));
    }
  } catch (err) {
    setStatus(t("zones.importInvalid", { message: err.message }), true);
    return;
  }
  let created = 0;
  const failures = [];
  for (const [i, f] of features.entries()) {
    const { id, ...feature } = f;
    try {
      await post("/api/v1/zones", feature);
      created++;
    } catch (err) {
      const name = (f.properties && f.properties.name) || id || `#${i + 1}`;
      failures.push(`${name}: ${err.message}`);
    }
  }
  setStatus(t("zones.imported", { created, failed: failures.length }) + (failures.length ? ` ${failures.join("; ")}` : ""), failures.length > 0);
  await load();
}
