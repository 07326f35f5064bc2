package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"gopkg.in/yaml.v3"
)

// LoadRoute is a planned route that synthetic vehicles drive back and
// forth. It is immutable after construction and safe for concurrent use.
type LoadRoute struct {
	Name string
	Line orb.LineString
	// cumM[i] is the distance along the line from its start to vertex i.
	cumM    []float64
	lengthM float64
}

// minLoadRouteM is the shortest route a vehicle is put on; shorter ones
// turn the vehicle around too often to look like driving.
const minLoadRouteM = 500

// NewLoadRoute measures line. It fails for lines shorter than 500 m.
func NewLoadRoute(name string, line orb.LineString) (*LoadRoute, error) {
	var clean orb.LineString
	for _, p := range line {
		if len(clean) > 0 && clean[len(clean)-1] == p {
			continue
		}
		clean = append(clean, p)
	}
	if len(clean) < 2 {
		return nil, fmt.Errorf("route %s: needs two distinct points", name)
	}
	r := &LoadRoute{Name: name, Line: clean, cumM: make([]float64, len(clean))}
	for i := 1; i < len(clean); i++ {
		r.cumM[i] = r.cumM[i-1] + geo.Distance(clean[i-1], clean[i])
	}
	r.lengthM = r.cumM[len(clean)-1]
	if r.lengthM < minLoadRouteM {
		return nil, fmt.Errorf("route %s: %.0f m long, want at least %d m", name, r.lengthM, minLoadRouteM)
	}
	return r, nil
}

// LengthM returns the route's length in metres.
func (r *LoadRoute) LengthM() float64 { return r.lengthM }

// at returns the point distM metres along the route (clamped to its ends)
// and the bearing of the segment it lies on, in degrees clockwise from
// north.
func (r *LoadRoute) at(distM float64) (orb.Point, float64) {
	distM = math.Max(0, math.Min(distM, r.lengthM))
	i := sort.SearchFloat64s(r.cumM, distM)
	if i == 0 {
		i = 1
	}
	a, b := r.Line[i-1], r.Line[i]
	segM := r.cumM[i] - r.cumM[i-1]
	frac := 0.0
	if segM > 0 {
		frac = (distM - r.cumM[i-1]) / segM
	}
	p := orb.Point{a.Lon() + frac*(b.Lon()-a.Lon()), a.Lat() + frac*(b.Lat()-a.Lat())}
	return p, math.Mod(geo.Bearing(a, b)+360, 360)
}

// pingPong returns the point and heading of a vehicle that has travelled
// travelledM metres from startM, turning around at both ends of the route.
func (r *LoadRoute) pingPong(startM, travelledM float64) (orb.Point, float64) {
	period := 2 * r.lengthM
	d := math.Mod(startM+travelledM, period)
	if d < 0 {
		d += period
	}
	if d <= r.lengthM {
		return r.at(d)
	}
	p, heading := r.at(period - d)
	return p, math.Mod(heading+180, 360)
}

// ReadLoadRoutes reads planned routes from a file: a fleet YAML such as
// configs/demo.yaml (the route of every vehicle), or a GeoJSON
// FeatureCollection whose LineString features are routes. Positions are
// WGS-84 [lon, lat].
func ReadLoadRoutes(path string) ([]*LoadRoute, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	var lines [][][2]float64
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		var fleet struct {
			Vehicles []struct {
				Route [][2]float64 `yaml:"route"`
			} `yaml:"vehicles"`
		}
		if err := yaml.Unmarshal(data, &fleet); err != nil {
			return nil, fmt.Errorf("routes %s: %w", path, err)
		}
		for _, v := range fleet.Vehicles {
			lines = append(lines, v.Route)
		}
	case ".geojson", ".json":
		var fc struct {
			Features []struct {
				Geometry struct {
					Type        string          `json:"type"`
					Coordinates json.RawMessage `json:"coordinates"`
				} `json:"geometry"`
			} `json:"features"`
		}
		if err := json.Unmarshal(data, &fc); err != nil {
			return nil, fmt.Errorf("routes %s: %w", path, err)
		}
		for _, f := range fc.Features {
			if f.Geometry.Type != "LineString" {
				continue
			}
			var coords [][2]float64
			if err := json.Unmarshal(f.Geometry.Coordinates, &coords); err != nil {
				return nil, fmt.Errorf("routes %s: %w", path, err)
			}
			lines = append(lines, coords)
		}
	default:
		return nil, fmt.Errorf("routes %s: want a .yaml fleet file or a .geojson FeatureCollection", path)
	}

	var routes []*LoadRoute
	var errs []error
	for i, coords := range lines {
		line := make(orb.LineString, len(coords))
		for k, c := range coords {
			line[k] = orb.Point{c[0], c[1]}
		}
		r, err := NewLoadRoute(fmt.Sprintf("%s-%d", base, i+1), line)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		routes = append(routes, r)
	}
	if len(routes) == 0 {
		return nil, errors.Join(fmt.Errorf("routes %s: no usable route", path), errors.Join(errs...))
	}
	return routes, nil
}

// Yongkang's urban area, where synthetic routes and zones are placed.
var yongkangBound = orb.Bound{Min: orb.Point{119.95, 28.80}, Max: orb.Point{120.20, 29.00}}

// SyntheticRoutes returns n routes around Yongkang generated from seed.
// Each is a drive of 10 to 25 segments of 300 m to 1.5 km, and its
// bearing turns by up to 50 degrees at each vertex, like a truck's run
// through town between enterprises. The same seed gives the same routes.
func SyntheticRoutes(n int, seed uint64) []*LoadRoute {
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	routes := make([]*LoadRoute, 0, n)
	for len(routes) < n {
		p := orb.Point{
			yongkangBound.Min.Lon() + rng.Float64()*(yongkangBound.Max.Lon()-yongkangBound.Min.Lon()),
			yongkangBound.Min.Lat() + rng.Float64()*(yongkangBound.Max.Lat()-yongkangBound.Min.Lat()),
		}
		bearing := rng.Float64() * 360
		line := orb.LineString{p}
		for range 10 + rng.IntN(16) {
			bearing += (rng.Float64()*2 - 1) * 50
			stepM := 300 + rng.Float64()*1200
			sin, cos := math.Sincos(bearing * math.Pi / 180)
			p = offsetPoint(p, sin*stepM, cos*stepM)
			line = append(line, p)
		}
		r, err := NewLoadRoute(fmt.Sprintf("synthetic-%d", len(routes)+1), line)
		if err != nil {
			continue // unreachable: 10 steps of 300 m exceed minLoadRouteM
		}
		routes = append(routes, r)
	}
	return routes
}
