// Package geofence compiles GeoJSON geofences into zones and answers the
// geometric queries the rules engine makes on every fix: which zones
// contain a point, how far the point is from a zone's edge, and how far it
// is from a trip's planned route.
//
// All coordinates are WGS-84 degrees and all distances metres. Shapes drawn
// on GCJ-02 (AMap, Tencent) or BD-09 (Baidu) maps are converted to WGS-84
// when they are parsed, so callers never see the shifted coordinates.
//
// Zones, an Index and a Corridor are immutable once built and safe for
// concurrent readers.
package geofence
