package geofence

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hwtrack/hwtrack/model"
)

// A 0.01° square south-east of Yongkang centre, with a hole in the middle:
//
//	(120.04,28.89) ┌──────────┐ (120.05,28.89)
//	               │  ┌────┐  │
//	               │  │hole│  │
//	               │  └────┘  │
//	(120.04,28.88) └──────────┘ (120.05,28.88)
const squareWithHole = `{"type":"Feature","id":"z1","properties":{"name":"杨溪水库一级保护区","kind":"restricted","level":1,"window":"06:00-22:00"},
 "geometry":{"type":"Polygon","coordinates":[
  [[120.04,28.88],[120.05,28.88],[120.05,28.89],[120.04,28.89],[120.04,28.88]],
  [[120.044,28.884],[120.046,28.884],[120.046,28.886],[120.044,28.886],[120.044,28.884]]]}}`

func TestParseFeatureValid(t *testing.T) {
	cases := []struct {
		name      string
		raw       string
		wantShape Shape
		wantKind  Kind
		wantLevel int
		inside    [2]float64 // lat, lon
		outside   [2]float64
	}{
		{"polygon with hole", squareWithHole, ShapePolygon, KindRestricted, 1, [2]float64{28.882, 120.042}, [2]float64{28.885, 120.045}},
		{"multipolygon", `{"type":"Feature","properties":{"name":"two parcels","kind":"site"},"geometry":{"type":"MultiPolygon","coordinates":[
			[[[120.00,28.80],[120.01,28.80],[120.01,28.81],[120.00,28.80]]],
			[[[120.10,28.90],[120.11,28.90],[120.11,28.91],[120.10,28.91],[120.10,28.90]]]]}}`,
			ShapeMultiPolygon, KindSite, 0, [2]float64{28.905, 120.105}, [2]float64{28.85, 120.05}},
		{"circle", `{"type":"Feature","properties":{"name":"centre","kind":"speed_limit","radius_m":500,"speed_limit_kmh":40},"geometry":{"type":"Point","coordinates":[121.4737,31.2304]}}`,
			ShapeCircle, KindSpeedLimit, 0, [2]float64{31.2304, 121.4737}, [2]float64{31.24, 121.4737}},
		{"rectangle", `{"type":"Feature","properties":{"name":"yard","kind":"site","shape":"rectangle"},"geometry":{"type":"Polygon","coordinates":[[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.0,28.9],[120.0,28.8]]]}}`,
			ShapeRectangle, KindSite, 0, [2]float64{28.85, 120.05}, [2]float64{28.95, 120.05}},
		{"restricted level defaults to 1", `{"type":"Feature","properties":{"name":"r","kind":"restricted"},"geometry":{"type":"Point","coordinates":[120.13,28.80]},"bbox":null}`,
			ShapeUnknown, KindRestricted, 1, [2]float64{28.80, 120.13}, [2]float64{28.9, 120.13}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			if tc.wantShape == ShapeUnknown {
				// A circle needs a radius; add it here so the case reads as a level test.
				raw = strings.Replace(raw, `"kind":"restricted"`, `"kind":"restricted","radius_m":300`, 1)
				tc.wantShape = ShapeCircle
			}
			z := mustParse(t, raw)
			if z.Shape != tc.wantShape {
				t.Errorf("Shape = %v, want %v", z.Shape, tc.wantShape)
			}
			if z.Kind != tc.wantKind {
				t.Errorf("Kind = %v, want %v", z.Kind, tc.wantKind)
			}
			if z.Level != tc.wantLevel {
				t.Errorf("Level = %d, want %d", z.Level, tc.wantLevel)
			}
			if !z.Contains(tc.inside[0], tc.inside[1]) {
				t.Errorf("Contains(%v) = false, want true", tc.inside)
			}
			if z.Contains(tc.outside[0], tc.outside[1]) {
				t.Errorf("Contains(%v) = true, want false", tc.outside)
			}
		})
	}
}

func TestParseFeatureFields(t *testing.T) {
	z := mustParse(t, squareWithHole)
	if z.ID != "z1" || z.Name != "杨溪水库一级保护区" {
		t.Errorf("ID, Name = %q, %q; want z1, 杨溪水库一级保护区", z.ID, z.Name)
	}
	if z.Window.String() != "06:00-22:00" {
		t.Errorf("Window = %q, want 06:00-22:00", z.Window)
	}
	if z.SourceCRS != CRSWGS84 {
		t.Errorf("SourceCRS = %v, want wgs84", z.SourceCRS)
	}
}

func TestParseFeatureErrors(t *testing.T) {
	polygon := func(props, coords string) string {
		return `{"type":"Feature","properties":{` + props + `},"geometry":{"type":"Polygon","coordinates":` + coords + `}}`
	}
	const okProps = `"name":"z","kind":"restricted"`
	const okRing = `[[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.0,28.8]]]`
	cases := []struct {
		name       string
		raw        string
		wantField  string
		wantReason string
	}{
		{"swapped lat lon", polygon(okProps, `[[[31.23,121.47],[31.24,121.47],[31.24,121.48],[31.23,121.47]]]`),
			"geometry.coordinates[0][0]", "coordinates are [lon, lat]; latitude 121.47 is out of range"},
		{"unclosed ring", polygon(okProps, `[[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.0,28.9]]]`),
			"geometry.coordinates[0]", "ring is not closed"},
		{"too short ring", polygon(okProps, `[[[120.0,28.8],[120.1,28.8],[120.0,28.8]]]`),
			"geometry.coordinates[0]", "needs at least 4"},
		{"repeated corners only", polygon(okProps, `[[[120.0,28.8],[120.1,28.8],[120.1,28.8],[120.0,28.8]]]`),
			"geometry.coordinates[0]", "distinct corner"},
		{"collinear ring", polygon(okProps, `[[[120.0,28.8],[120.1,28.8],[120.2,28.8],[120.0,28.8]]]`),
			"geometry.coordinates[0]", "encloses no area"},
		// Bow tie: edges 0-1 and 2-3 cross at (120.05, 28.85).
		{"self-intersecting ring", polygon(okProps, `[[[120.0,28.8],[120.1,28.9],[120.1,28.8],[120.0,28.9],[120.0,28.8]]]`),
			"geometry.coordinates[0]", "ring intersects itself near [120.050000, 28.850000]"},
		{"hole crossing outer ring", polygon(okProps, `[[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.0,28.9],[120.0,28.8]],[[120.05,28.85],[120.2,28.85],[120.2,28.86],[120.05,28.86],[120.05,28.85]]]`),
			"geometry.coordinates[1]", "ring 1 crosses ring 0"},
		{"hole outside outer ring", polygon(okProps, `[[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.0,28.9],[120.0,28.8]],[[120.2,28.82],[120.3,28.82],[120.3,28.83],[120.2,28.82]]]`),
			"geometry.coordinates[1][0]", "hole corner [120.200000, 28.820000] [lon, lat] lies outside the outer ring"},
		// The hole's corners all touch the outer ring, but its edge 1-2 cuts
		// across the notch of the concave outer ring.
		{"hole edge leaves outer ring", polygon(okProps, `[[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.05,28.85],[120.0,28.9],[120.0,28.8]],[[120.0,28.8],[120.1,28.9],[120.0,28.9],[120.0,28.8]]]`),
			"geometry.coordinates[1][1]", "hole edge 1-2 leaves the outer ring"},
		// The hole leaves through two points on the outer ring's east edge,
		// which the proper-crossing check allows.
		{"hole partly outside", polygon(okProps, `[[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.0,28.9],[120.0,28.8]],[[120.05,28.85],[120.1,28.85],[120.15,28.87],[120.1,28.88],[120.05,28.85]]]`),
			"geometry.coordinates[1][2]", "lies outside the outer ring"},
		{"hole identical to outer ring", polygon(okProps, `[[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.0,28.9],[120.0,28.8]],[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.0,28.9],[120.0,28.8]]]`),
			"geometry.coordinates[1]", "hole coincides with the outer ring"},
		{"hole reversed outer ring", polygon(okProps, `[[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.0,28.9],[120.0,28.8]],[[120.0,28.8],[120.0,28.9],[120.1,28.9],[120.1,28.8],[120.0,28.8]]]`),
			"geometry.coordinates[1]", "hole coincides with the outer ring"},
		{"circle across antimeridian", `{"type":"Feature","properties":{"name":"z","kind":"site","radius_m":5000},"geometry":{"type":"Point","coordinates":[179.99,0.5]}}`,
			"geometry.coordinates", "across the antimeridian"},
		{"circle across antimeridian west", `{"type":"Feature","properties":{"name":"z","kind":"site","radius_m":2000},"geometry":{"type":"Point","coordinates":[-179.99,-65]}}`,
			"geometry.coordinates", "across the antimeridian"},
		{"circle around pole", `{"type":"Feature","properties":{"name":"z","kind":"site","radius_m":20000},"geometry":{"type":"Point","coordinates":[10,89.9]}}`,
			"geometry.coordinates", "contains a pole"},
		{"antimeridian edge", polygon(okProps, `[[[179.9,10.0],[-179.9,10.0],[-179.9,10.1],[179.9,10.0]]]`),
			"geometry.coordinates[0][1]", "spans more than 180° of longitude"},
		{"unknown kind", polygon(`"name":"z","kind":"forbidden"`, okRing), "properties.kind", `unknown kind "forbidden"`},
		{"missing kind", polygon(`"name":"z"`, okRing), "properties.kind", "missing"},
		{"missing name", polygon(`"kind":"site"`, okRing), "properties.name", "missing"},
		{"bad window", polygon(okProps+`,"window":"6-22"`, okRing), "properties.window", "expected HH:MM-HH:MM"},
		{"level 3", polygon(okProps+`,"level":3`, okRing), "properties.level", "must be 1 or 2"},
		{"level on a site", polygon(`"name":"z","kind":"site","level":1`, okRing), "properties.level", "only to restricted"},
		{"bad crs", polygon(okProps+`,"crs":"utm"`, okRing), "properties.crs", "expected wgs84, gcj02 or bd09"},
		{"speed limit zone without limit", polygon(`"name":"z","kind":"speed_limit"`, okRing), "properties.speed_limit_kmh", "missing"},
		{"unknown road class", polygon(okProps+`,"road":"motorway"`, okRing), "properties.road", `unknown road class "motorway"`},
		{"radius in kilometres", `{"type":"Feature","properties":{"name":"c","kind":"site","radius_m":0.5},"geometry":{"type":"Point","coordinates":[120.0,28.8]}}`,
			"properties.radius_m", "metres are expected"},
		{"radius too large", `{"type":"Feature","properties":{"name":"c","kind":"site","radius_m":60000},"geometry":{"type":"Point","coordinates":[120.0,28.8]}}`,
			"properties.radius_m", "between 10 and 50000"},
		{"point without radius", `{"type":"Feature","properties":{"name":"c","kind":"site"},"geometry":{"type":"Point","coordinates":[120.0,28.8]}}`,
			"properties.radius_m", "missing"},
		{"radius on polygon", polygon(okProps+`,"radius_m":100`, okRing), "properties.radius_m", "only to a Point"},
		{"rectangle not axis aligned", polygon(okProps+`,"shape":"rectangle"`, `[[[120.0,28.8],[120.1,28.81],[120.1,28.9],[120.0,28.9],[120.0,28.8]]]`),
			"geometry.coordinates[0][1]", "parallel to the lon and lat axes"},
		{"bare geometry", `{"type":"Polygon","coordinates":` + okRing + `}`, "type", "bare Polygon geometry"},
		{"line string", `{"type":"Feature","properties":{` + okProps + `},"geometry":{"type":"LineString","coordinates":[[120,28],[121,29]]}}`,
			"geometry.type", "unsupported geometry"},
		{"missing geometry", `{"type":"Feature","properties":{` + okProps + `}}`, "geometry", "missing"},
		{"position with one number", polygon(okProps, `[[[120.0],[120.1,28.8],[120.1,28.9],[120.0],[120.0,28.8]]]`),
			"geometry.coordinates[0][0]", "needs [lon, lat]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFeature([]byte(tc.raw))
			var verr *model.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("ParseFeature error = %v, want *model.ValidationError", err)
			}
			for _, f := range verr.Fields {
				if f.Field == tc.wantField && strings.Contains(f.Reason, tc.wantReason) {
					return
				}
			}
			t.Errorf("errors %v do not include field %q with reason containing %q", verr.Fields, tc.wantField, tc.wantReason)
		})
	}
}

func TestParseFeatureReportsEveryProblem(t *testing.T) {
	raw := `{"type":"Feature","properties":{"kind":"nope","window":"x"},"geometry":{"type":"Polygon","coordinates":[[[28.8,120.0],[28.9,120.0],[28.9,120.1],[28.8,120.0]]]}}`
	_, err := ParseFeature([]byte(raw))
	var verr *model.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error = %v, want *model.ValidationError", err)
	}
	fields := map[string]bool{}
	for _, f := range verr.Fields {
		fields[f.Field] = true
	}
	for _, want := range []string{"properties.name", "properties.kind", "properties.window", "geometry.coordinates[0][0]"} {
		if !fields[want] {
			t.Errorf("no error for %s in %v", want, verr.Fields)
		}
	}
}

func TestParseFeatureConvertsGCJ02(t *testing.T) {
	// A 200 m circle drawn on an AMap (GCJ-02) base map at Yongkang centre:
	// its WGS-84 centre must be the true centre, about 550 m from the
	// GCJ-02 coordinates that were sent.
	const wLat, wLon = 28.8908, 120.0425
	gLat, gLon := WGS84ToGCJ02(wLat, wLon)
	raw := fmt.Sprintf(`{"type":"Feature","properties":{"name":"c","kind":"site","radius_m":200,"crs":"gcj02"},"geometry":{"type":"Point","coordinates":[%.9f,%.9f]}}`, gLon, gLat)
	z := mustParse(t, raw)
	if !z.Contains(wLat, wLon) {
		t.Error("converted circle does not contain the WGS-84 centre")
	}
	if z.Contains(gLat, gLon) {
		t.Error("converted circle still contains the unconverted GCJ-02 point")
	}
	if z.SourceCRS != CRSGCJ02 {
		t.Errorf("SourceCRS = %v, want gcj02", z.SourceCRS)
	}
}

func TestMarshalFeatureRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		raw  string
	}{
		{"polygon with hole", squareWithHole},
		{"circle", `{"type":"Feature","id":7,"properties":{"name":"c","kind":"speed_limit","radius_m":500,"speed_limit_kmh":40},"geometry":{"type":"Point","coordinates":[121.4737,31.2304]}}`},
		{"rectangle from bd09", `{"type":"Feature","properties":{"name":"yard","kind":"site","shape":"rectangle","crs":"bd09"},"geometry":{"type":"Polygon","coordinates":[[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.0,28.9],[120.0,28.8]]]}}`},
		{"expressway without limit", `{"type":"Feature","properties":{"name":"G1512","kind":"speed_limit","road":"expressway"},"geometry":{"type":"Polygon","coordinates":[[[120.0,28.8],[120.1,28.8],[120.1,28.81],[120.0,28.81],[120.0,28.8]]]}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			z := mustParse(t, tc.raw)
			b, err := z.MarshalFeature()
			if err != nil {
				t.Fatal(err)
			}
			z2, err := ParseFeature(b)
			if err != nil {
				t.Fatalf("re-parse %s: %v", b, err)
			}
			if z2.ID != z.ID || z2.Name != z.Name || z2.Kind != z.Kind || z2.Level != z.Level ||
				z2.Window != z.Window || z2.SpeedLimitKmh != z.SpeedLimitKmh || z2.Shape != z.Shape || z2.RadiusM() != z.RadiusM() ||
				z2.Expressway != z.Expressway {
				t.Errorf("round trip changed the zone: %+v → %+v", z, z2)
			}
			if z2.SourceCRS != CRSWGS84 {
				t.Errorf("re-parsed SourceCRS = %v, want wgs84", z2.SourceCRS)
			}
			if z2.Bound() != z.Bound() {
				t.Errorf("round trip moved the zone: bound %v → %v", z.Bound(), z2.Bound())
			}
		})
	}
}

func TestFromModel(t *testing.T) {
	z, err := FromModel(&model.Zone{ID: "stored-1", Feature: json.RawMessage(squareWithHole)})
	if err != nil {
		t.Fatal(err)
	}
	if z.ID != "stored-1" {
		t.Errorf("ID = %q, want the stored ID stored-1", z.ID)
	}
}

// The Yongkang county boundary from DataV is a GCJ-02 MultiPolygon with
// about two thousand vertices: it must validate and, after conversion,
// contain the city centre.
func TestParseYongkangBoundary(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "data", "boundaries", "yongkang_330784_from_datav_330700.geojson")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("sample boundary not available (%v); it lives in ../shared/data beside the checkout", err)
	}
	var fc struct {
		Features []struct {
			Geometry json.RawMessage `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(raw, &fc); err != nil || len(fc.Features) == 0 {
		t.Fatalf("decode %s: %v (features: %d)", path, err, len(fc.Features))
	}
	feature := `{"type":"Feature","properties":{"name":"永康市","kind":"jurisdiction","crs":"gcj02"},"geometry":` + string(fc.Features[0].Geometry) + `}`
	z := mustParse(t, feature)

	cases := []struct {
		name     string
		lat, lon float64
		want     bool
	}{
		{"city centre", 28.8908, 120.0425, true},
		{"economic development zone", 28.85, 120.05, true},
		{"jinhua city", 29.08, 119.65, false},
		{"hangzhou", 30.27, 120.15, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := z.Contains(tc.lat, tc.lon); got != tc.want {
				t.Errorf("Contains(%v, %v) = %v, want %v", tc.lat, tc.lon, got, tc.want)
			}
		})
	}
}

func TestParseFeatureRejectsTooManyPositions(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"type":"Feature","properties":{"name":"big","kind":"site"},"geometry":{"type":"Polygon","coordinates":[[`)
	for i := range MaxPositions + 1 {
		fmt.Fprintf(&b, "[%.6f,28.8],", 120+float64(i)*1e-6)
	}
	b.WriteString(`[120,28.8]]]}}`)
	_, err := ParseFeature([]byte(b.String()))
	var verr *model.ValidationError
	if !errors.As(err, &verr) || !strings.Contains(verr.Error(), "more than the limit") {
		t.Errorf("error = %v, want the position limit", err)
	}
}

func TestParseRoadClass(t *testing.T) {
	const ring = `[[[120.0,28.8],[120.1,28.8],[120.1,28.81],[120.0,28.81],[120.0,28.8]]]`
	cases := []struct {
		name           string
		props          string
		wantExpressway bool
		wantLimitKmh   float64
	}{
		{"no road property", `"name":"z","kind":"speed_limit","speed_limit_kmh":40`, false, 40},
		{"ordinary road", `"name":"z","kind":"speed_limit","speed_limit_kmh":40,"road":"ordinary"`, false, 40},
		{"expressway with its own limit", `"name":"z","kind":"speed_limit","speed_limit_kmh":70,"road":"expressway"`, true, 70},
		{"expressway without a limit", `"name":"z","kind":"speed_limit","road":"expressway"`, true, 0},
		{"expressway on a jurisdiction", `"name":"z","kind":"jurisdiction","road":"expressway"`, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			z := mustParse(t, `{"type":"Feature","properties":{`+tc.props+`},"geometry":{"type":"Polygon","coordinates":`+ring+`}}`)
			if z.Expressway != tc.wantExpressway {
				t.Errorf("Expressway = %v, want %v", z.Expressway, tc.wantExpressway)
			}
			if z.SpeedLimitKmh != tc.wantLimitKmh {
				t.Errorf("SpeedLimitKmh = %v, want %v", z.SpeedLimitKmh, tc.wantLimitKmh)
			}
		})
	}
}
