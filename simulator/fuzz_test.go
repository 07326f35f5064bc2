package simulator

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// addSeeds adds the inline seeds and, when present, the sample files of
// the shared data folder matching glob.
func addSeeds(f *testing.F, glob string, inline ...string) {
	for _, s := range inline {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "data", glob))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil && len(data) < 200_000 {
			f.Add(data)
		}
	}
}

// checkDecoded checks the decoder contract on any input: either a
// *ParseError, or fixes with UTC times, positions in range and stats that
// match.
func checkDecoded(t *testing.T, format Format, data []byte) {
	fixes, stats, err := DecodeTrack("fuzz", format, data)
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("error %v is not a *ParseError", err)
		}
		return
	}
	if len(fixes) == 0 || stats.Fixes != len(fixes) {
		t.Fatalf("no error with %d fixes, stats.Fixes %d", len(fixes), stats.Fixes)
	}
	for i, fx := range fixes {
		if fx.Time.Location() != time.UTC || fx.Time.IsZero() {
			t.Fatalf("fix %d time %v", i, fx.Time)
		}
		if math.IsNaN(fx.Lat) || math.IsNaN(fx.Lon) || math.Abs(fx.Lat) > 90 || math.Abs(fx.Lon) > 180 {
			t.Fatalf("fix %d position %v,%v", i, fx.Lat, fx.Lon)
		}
	}
	// Re-timing and route planning must cope with whatever decoded.
	out := Retime(fixes, time.Now(), DefaultMaxGap)
	PlannedRoute(out)
}

func FuzzReadNMEA(f *testing.F) {
	addSeeds(f, "nmea/*/*",
		"$GPRMC,235959.00,A,2853.448,N,12002.550,E,10.0,90.0,311226,,\n$GPGGA,000001.00,2853.448,N,12002.551,E,1,08,0.9,96.0,M,0.0,M,,\n",
		"\xff\xfe$\x00G\x00",
		"$GPZDA,000419.000,09,03,2019,00,00*5A\n")
	f.Fuzz(func(t *testing.T, data []byte) { checkDecoded(t, FormatNMEA, data) })
}

func FuzzReadGPX(f *testing.F) {
	addSeeds(f, "trajectories/gpsbabel/iblue747_csv.gpx",
		`<gpx><trk><trkseg><trkpt lat="1" lon="2"><time>2020-01-01T00:00:00Z</time><speed>3</speed><sat>4</sat></trkpt></trkseg></trk></gpx>`)
	f.Fuzz(func(t *testing.T, data []byte) { checkDecoded(t, FormatGPX, data) })
}

func FuzzReadPLT(f *testing.F) {
	addSeeds(f, "trajectories/geolife/008/20081025225205.plt",
		"Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n39.9,116.3,0,-777,39745.56,2008-10-24,13:26:24\n")
	f.Fuzz(func(t *testing.T, data []byte) { checkDecoded(t, FormatPLT, data) })
}

func FuzzReadOwnTracksRec(f *testing.F) {
	addSeeds(f, "owntracks/*",
		"2015-08-24T05:55:07Z\t*    \t{\"tst\":\"1440395361\",\"_type\":\"location\",\"lat\":52.3,\"lon\":10.0}\n")
	f.Fuzz(func(t *testing.T, data []byte) { checkDecoded(t, FormatOwnTracks, data) })
}
