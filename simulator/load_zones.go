package simulator

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"

	"github.com/paulmach/orb"
)

// Synthetic zone sizes in metres. With 10,000 zones over Yongkang's urban
// area (about 25 km by 22 km) they cover a few per cent of it, so a
// vehicle on a synthetic route enters one every few kilometres.
const (
	loadZoneMinRadiusM = 30
	loadZoneMaxRadiusM = 120
	// loadZoneSpeedLimitKmh is above every synthetic vehicle's speed, so
	// speed-limit zones are checked on every fix but raise nothing.
	loadZoneSpeedLimitKmh = 70
)

// SyntheticZones returns n GeoJSON Features placed at random over
// Yongkang from seed: alternately circles and hexagons, alternately
// second-level restricted zones and speed-limit zones. Each has an "id"
// (load-zone-00001, ...) so a zone file of them replaces the same zones
// on every server start.
func SyntheticZones(n int, seed uint64) []json.RawMessage {
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	out := make([]json.RawMessage, 0, n)
	for i := range n {
		c := orb.Point{
			yongkangBound.Min.Lon() + rng.Float64()*(yongkangBound.Max.Lon()-yongkangBound.Min.Lon()),
			yongkangBound.Min.Lat() + rng.Float64()*(yongkangBound.Max.Lat()-yongkangBound.Min.Lat()),
		}
		radiusM := loadZoneMinRadiusM + rng.Float64()*(loadZoneMaxRadiusM-loadZoneMinRadiusM)

		props := map[string]any{}
		if i%2 == 0 {
			props["name"] = fmt.Sprintf("负载测试水源保护区 %d（合成）", i+1)
			props["kind"] = "restricted"
			props["level"] = 2
		} else {
			props["name"] = fmt.Sprintf("负载测试限速区 %d（合成）", i+1)
			props["kind"] = "speed_limit"
			props["speed_limit_kmh"] = loadZoneSpeedLimitKmh
		}

		var geometry map[string]any
		if i%4 < 2 {
			geometry = map[string]any{"type": "Point", "coordinates": [2]float64{round7(c.Lon()), round7(c.Lat())}}
			props["radius_m"] = math.Round(radiusM)
		} else {
			ring := make([][2]float64, 0, 7)
			turn := rng.Float64() * 60
			for k := range 6 {
				sin, cos := math.Sincos((turn + float64(k)*60) * math.Pi / 180)
				p := offsetPoint(c, sin*radiusM, cos*radiusM)
				ring = append(ring, [2]float64{round7(p.Lon()), round7(p.Lat())})
			}
			ring = append(ring, ring[0])
			geometry = map[string]any{"type": "Polygon", "coordinates": [][][2]float64{ring}}
		}
		feature, _ := json.Marshal(map[string]any{
			"type":       "Feature",
			"id":         fmt.Sprintf("load-zone-%05d", i+1),
			"geometry":   geometry,
			"properties": props,
		})
		out = append(out, feature)
	}
	return out
}

func round7(v float64) float64 { return math.Round(v*1e7) / 1e7 }

// WriteZoneFile writes features as a GeoJSON FeatureCollection to path,
// one feature a line, for the server's zone_files setting.
func WriteZoneFile(path string, features []json.RawMessage) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write zone file: %w", err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprint(w, `{"type":"FeatureCollection","name":"hwtrack-sim synthetic load zones","features":[`+"\n")
	for i, feat := range features {
		if i > 0 {
			w.WriteString(",\n")
		}
		w.Write(feat)
	}
	w.WriteString("\n]}\n")
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write zone file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write zone file: %w", err)
	}
	return nil
}

// CreateZones posts every feature to POST /api/v1/zones, four at a time.
// The server recompiles its zone index after each one, so thousands of
// zones load far faster from a zone file (WriteZoneFile).
func (c *APIClient) CreateZones(ctx context.Context, features []json.RawMessage) error {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(features) || ctx.Err() != nil {
					return
				}
				if err := c.do(ctx, http.MethodPost, "/api/v1/zones", nil, features[i], nil); err != nil {
					errOnce.Do(func() { first = fmt.Errorf("create zone %d: %w", i+1, err) })
					next.Store(int64(len(features)))
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
