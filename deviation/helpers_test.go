package deviation

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

const metresPerDegLat = 6371008.8 * math.Pi / 180

// offsetM returns the point dNorthM metres north and dEastM metres east of
// (lat, lon).
func offsetM(lat, lon, dNorthM, dEastM float64) (float64, float64) {
	return lat + dNorthM/metresPerDegLat, lon + dEastM/(metresPerDegLat*math.Cos(lat*math.Pi/180))
}

// cst is Asia/Shanghai, in which zone windows are written.
var cst = time.FixedZone("CST", 8*3600)

// t0 is 10:00 Shanghai time on a weekday.
var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, cst)

type fixOption func(*model.Fix)

func speed(kmh float64) fixOption {
	return func(f *model.Fix) { f.SpeedKmh = kmh; f.Has |= model.HasSpeed }
}

func accuracy(m float64) fixOption {
	return func(f *model.Fix) { f.AccuracyM = m; f.Has |= model.HasAccuracy }
}

func invalid() fixOption { return func(f *model.Fix) { f.Valid = false } }

func newFix(terminal string, at time.Time, lat, lon float64, opts ...fixOption) *model.Fix {
	f := &model.Fix{
		Terminal:   terminal,
		Time:       at,
		ReceivedAt: at.Add(time.Second),
		Lat:        lat,
		Lon:        lon,
		Valid:      true,
		SpeedKmh:   30,
		Has:        model.HasSpeed,
	}
	for _, o := range opts {
		o(f)
	}
	return f
}

func circleZone(t testing.TB, id, name string, lat, lon, radiusM float64, extra string) *geofence.Zone {
	t.Helper()
	raw := fmt.Sprintf(`{"type":"Feature","id":%q,"properties":{"name":%q,"kind":"restricted","radius_m":%g%s},"geometry":{"type":"Point","coordinates":[%.8f,%.8f]}}`,
		id, name, radiusM, extra, lon, lat)
	z, err := geofence.ParseFeature([]byte(raw))
	if err != nil {
		t.Fatalf("ParseFeature: %v", err)
	}
	return z
}

// straightTrip returns a trip whose route runs due east from (lat, lon)
// for lengthM metres, with a vertex every 1 km.
func straightTrip(id, terminal string, lat, lon, lengthM, corridorM float64) *model.Trip {
	coords := "["
	for east := 0.0; east <= lengthM; east += 1000 {
		pLat, pLon := offsetM(lat, lon, 0, east)
		if east > 0 {
			coords += ","
		}
		coords += fmt.Sprintf("[%.8f,%.8f]", pLon, pLat)
	}
	coords += "]"
	return &model.Trip{
		ID:           id,
		Terminal:     terminal,
		Route:        []byte(`{"type":"LineString","coordinates":` + coords + `}`),
		CorridorM:    corridorM,
		PlannedStart: t0.Add(-time.Hour),
		PlannedEnd:   t0.Add(5 * time.Hour),
		State:        model.TripDispatched,
	}
}

func processAll(e *Engine, fixes []*model.Fix) []model.Deviation {
	var out []model.Deviation
	for _, f := range fixes {
		out = append(out, e.Process(f)...)
	}
	return out
}

func countState(devs []model.Deviation, state model.DeviationState) int {
	n := 0
	for _, d := range devs {
		if d.State == state {
			n++
		}
	}
	return n
}

func ignition(on bool) fixOption {
	return func(f *model.Fix) { f.ACC = on; f.Has |= model.HasACC }
}

func alarmWord(word uint32) fixOption {
	return func(f *model.Fix) { f.Alarm = word; f.Has |= model.HasAlarm }
}

func odometer(km float64) fixOption {
	return func(f *model.Fix) { f.OdometerKm = km; f.Has |= model.HasOdometer }
}

func source(s model.Source) fixOption { return func(f *model.Fix) { f.Source = s } }

func receivedAt(at time.Time) fixOption { return func(f *model.Fix) { f.ReceivedAt = at } }

// drive returns one fix per interval from start, driving due east from
// (lat, lon) at each of speedsKmh in turn, so the point-to-point speed
// matches the reported one.
func drive(terminal string, start time.Time, interval time.Duration, lat, lon float64, speedsKmh []float64, opts ...fixOption) []*model.Fix {
	fixes := make([]*model.Fix, len(speedsKmh))
	eastM := 0.0
	for i, kmh := range speedsKmh {
		if i > 0 {
			eastM += kmh / 3.6 * interval.Seconds()
		}
		pLat, pLon := offsetM(lat, lon, 0, eastM)
		fixes[i] = newFix(terminal, start.Add(time.Duration(i)*interval), pLat, pLon, append([]fixOption{speed(kmh)}, opts...)...)
	}
	return fixes
}

// parked returns n fixes interval apart at (lat, lon).
func parked(terminal string, start time.Time, interval time.Duration, n int, lat, lon float64, opts ...fixOption) []*model.Fix {
	fixes := make([]*model.Fix, n)
	for i := range n {
		fixes[i] = newFix(terminal, start.Add(time.Duration(i)*interval), lat, lon, append([]fixOption{speed(0)}, opts...)...)
	}
	return fixes
}

func ofKind(devs []model.Deviation, kind model.DeviationKind) []model.Deviation {
	var out []model.Deviation
	for _, d := range devs {
		if d.Kind == kind {
			out = append(out, d)
		}
	}
	return out
}

func zoneFeature(t testing.TB, raw string) *geofence.Zone {
	t.Helper()
	z, err := geofence.ParseFeature([]byte(raw))
	if err != nil {
		t.Fatalf("ParseFeature: %v", err)
	}
	return z
}

// kindZone returns a circle zone of any kind with extra properties.
func kindZone(t testing.TB, id, kind string, lat, lon, radiusM float64, extra string) *geofence.Zone {
	t.Helper()
	return zoneFeature(t, fmt.Sprintf(`{"type":"Feature","id":%q,"properties":{"name":%q,"kind":%q,"radius_m":%g%s},"geometry":{"type":"Point","coordinates":[%.8f,%.8f]}}`,
		id, id, kind, radiusM, extra, lon, lat))
}
