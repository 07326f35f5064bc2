// The one Leaflet map shared by every view, and the coordinate conversion
// between stored WGS-84 positions and the tile layer's display CRS.
import L from "leaflet";
import { wgs84ToGcj02, gcj02ToWgs84 } from "./gcj02.js";
import { t } from "./i18n/index.js";

let map = null;
let displayCrs = "wgs84";

// createMap builds the map from the console settings returned by
// GET /api/v1/console/config. With no tile_url the map has no base layer:
// overlays draw on a plain background, and the scale bar is always shown.
export function createMap(container, config) {
  displayCrs = config.tile_crs === "gcj02" ? "gcj02" : "wgs84";
  const center = Array.isArray(config.center) && config.center.length === 2 ? config.center : [28.9, 120.05];
  map = L.map(container, {
    center: toDisplay(center[0], center[1]),
    zoom: Number.isFinite(config.zoom) ? config.zoom : 12,
    preferCanvas: false,
    attributionControl: true,
  });
  map.attributionControl.setPrefix(false);
  if (config.tile_url) {
    L.tileLayer(config.tile_url, {
      attribution: config.tile_attribution || "",
      maxZoom: 18,
      crossOrigin: false,
    }).addTo(map);
  } else {
    container.classList.add("no-tiles");
    map.attributionControl.addAttribution(t("map.noTiles"));
  }
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
  return map;
}

export function getMap() {
  return map;
}

export function getDisplayCrs() {
  return displayCrs;
}

// toDisplay converts a stored WGS-84 position to the tile layer's CRS and
// returns a Leaflet [lat, lon] pair.
export function toDisplay(lat, lon) {
  if (displayCrs === "gcj02") {
    return wgs84ToGcj02(lat, lon);
  }
  return [lat, lon];
}

// fromDisplay converts a display position back to WGS-84 [lat, lon].
export function fromDisplay(lat, lon) {
  if (displayCrs === "gcj02") {
    return gcj02ToWgs84(lat, lon);
  }
  return [lat, lon];
}

// lineToDisplay converts GeoJSON [lon, lat] positions to display [lat, lon].
export function lineToDisplay(coordinates) {
  return coordinates.map((p) => toDisplay(p[1], p[0]));
}

// metresPerPixel is the ground resolution of Web Mercator at a latitude and
// zoom level, for drawing corridors whose width is given in metres.
export function metresPerPixel(lat, zoom) {
  return (40075016.686 * Math.cos((lat * Math.PI) / 180)) / 2 ** (zoom + 8);
}

// geometryToLayer turns a stored GeoJSON zone feature into a Leaflet layer
// in display coordinates: a circle for a Point with radius_m, polygons for
// Polygon and MultiPolygon, and a polyline for a LineString.
export function geometryToLayer(feature, style) {
  const g = feature.geometry || {};
  const props = feature.properties || {};
  switch (g.type) {
    case "Point":
      return L.circle(toDisplay(g.coordinates[1], g.coordinates[0]), { ...style, radius: props.radius_m || 50 });
    case "Polygon":
      return L.polygon(g.coordinates.map(lineToDisplay), style);
    case "MultiPolygon":
      return L.polygon(g.coordinates.map((poly) => poly.map(lineToDisplay)), style);
    case "LineString":
      return L.polyline(lineToDisplay(g.coordinates), style);
    default:
      return null;
  }
}

// layerToGeometry turns a drawn or edited Leaflet layer into a GeoJSON
// geometry in display coordinates, with radius_m for circles.
export function layerToGeometry(layer) {
  if (layer instanceof L.Circle) {
    const c = layer.getLatLng();
    return { geometry: { type: "Point", coordinates: [c.lng, c.lat] }, radius: Math.round(layer.getRadius()) };
  }
  const gj = layer.toGeoJSON(12);
  return { geometry: gj.geometry, radius: 0 };
}
