package simulator

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// sharedData returns the path of a file under the shared sample data
// folder beside the checkout, skipping the test when it is absent.
func sharedData(t testing.TB, rel string) string {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "data", filepath.FromSlash(rel))
	if _, err := os.Stat(path); err != nil {
		t.Skipf("sample data %s not available (%v); it lives in ../shared/data beside the checkout", rel, err)
	}
	return path
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return ts
}

// checkFixes checks what every reader promises: UTC times, positions in
// range, and stats that agree with the fixes.
func checkFixes(t *testing.T, fixes []model.Fix, stats ReadStats) {
	t.Helper()
	if stats.Fixes != len(fixes) {
		t.Errorf("stats.Fixes = %d, want %d", stats.Fixes, len(fixes))
	}
	valid := 0
	for i, f := range fixes {
		if f.Time.Location() != time.UTC {
			t.Fatalf("fix %d time %v is not in UTC", i, f.Time)
		}
		if math.Abs(f.Lat) > 90 || math.Abs(f.Lon) > 180 {
			t.Fatalf("fix %d position %v,%v out of range", i, f.Lat, f.Lon)
		}
		if f.Valid {
			valid++
		}
	}
	if stats.Valid != valid {
		t.Errorf("stats.Valid = %d, want %d", stats.Valid, valid)
	}
}

func TestReadGPX(t *testing.T) {
	cases := []struct {
		file      string
		fixes     int
		valid     int
		first     string
		firstKmh  float64 // speed of the first fix, -1 when absent
		firstSats int
	}{
		// sbn-v13 marks 89 points <fix>none</fix>; its speed is in m/s.
		{file: "sbn-v13.gpx", fixes: 3453, valid: 3364, first: "2010-02-01T12:31:38.545Z", firstKmh: 12.05 * 3.6, firstSats: 3},
		{file: "dg100.gpx", fixes: 12027, valid: 12027, first: "2020-02-14T18:04:30Z", firstKmh: 0.888889 * 3.6},
		{file: "mtk_logger.gpx", fixes: 817, valid: 803, first: "2008-01-27T13:03:22.836Z", firstKmh: 0},
		{file: "garmin_xt_strk.gpx", fixes: 958, valid: 958, first: "2010-05-28T18:55:34Z", firstKmh: -1},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			fixes, stats, err := ReadGPX(sharedData(t, "trajectories/gpsbabel/"+tc.file))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			checkFixes(t, fixes, stats)
			if len(fixes) != tc.fixes {
				t.Errorf("fixes = %d, want %d", len(fixes), tc.fixes)
			}
			if stats.Valid != tc.valid {
				t.Errorf("valid = %d, want %d", stats.Valid, tc.valid)
			}
			if want := mustTime(t, tc.first); !fixes[0].Time.Equal(want) {
				t.Errorf("first time = %v, want %v", fixes[0].Time, want)
			}
			if fixes[0].Has&model.HasAlt == 0 {
				t.Error("first fix has no altitude")
			}
			gotSpeed := fixes[0].Has&model.HasSpeed != 0
			if gotSpeed != (tc.firstKmh >= 0) {
				t.Errorf("first fix HasSpeed = %v, want %v", gotSpeed, tc.firstKmh >= 0)
			}
			if gotSpeed && math.Abs(fixes[0].SpeedKmh-tc.firstKmh) > 1e-6 {
				t.Errorf("first speed = %v km/h, want %v", fixes[0].SpeedKmh, tc.firstKmh)
			}
			if tc.firstSats > 0 && (fixes[0].Has&model.HasSats == 0 || fixes[0].Sats != tc.firstSats) {
				t.Errorf("first sats = %d (has %v), want %d", fixes[0].Sats, fixes[0].Has&model.HasSats != 0, tc.firstSats)
			}
		})
	}
}

func TestReadPLT(t *testing.T) {
	cases := []struct {
		file  string
		fixes int
		first string
		last  string
		altM  float64
	}{
		// The first row of 008/20081024132624 has altitude 111 ft.
		{file: "008/20081024132624.plt", fixes: 1098, first: "2008-10-24T13:26:24Z", last: "2008-10-24T14:04:04Z", altM: 111 * 0.3048},
		{file: "001/20081026081229.plt", fixes: 3236, first: "2008-10-26T08:12:29Z", last: "2008-10-27T04:55:07Z"},
		{file: "010/20070905163053.plt", fixes: 3691, first: "2007-09-05T16:30:53Z", last: "2007-09-05T18:20:46Z"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			fixes, stats, err := ReadPLT(sharedData(t, "trajectories/geolife/"+tc.file))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			checkFixes(t, fixes, stats)
			if len(fixes) != tc.fixes || stats.Valid != tc.fixes {
				t.Errorf("fixes = %d valid = %d, want %d of each", len(fixes), stats.Valid, tc.fixes)
			}
			if want := mustTime(t, tc.first); !fixes[0].Time.Equal(want) {
				t.Errorf("first time = %v, want %v", fixes[0].Time, want)
			}
			if want := mustTime(t, tc.last); !fixes[len(fixes)-1].Time.Equal(want) {
				t.Errorf("last time = %v, want %v", fixes[len(fixes)-1].Time, want)
			}
			if tc.altM != 0 && math.Abs(fixes[0].AltM-tc.altM) > 1e-9 {
				t.Errorf("first altitude = %v m, want %v m", fixes[0].AltM, tc.altM)
			}
		})
	}
}

func TestDecodePLTAltitude(t *testing.T) {
	header := "Geolife trajectory\r\nWGS 84\r\nAltitude is in Feet\r\nReserved 3\r\n0,2,255,My Track,0,0,2,8421376\r\n0\r\n"
	data := header +
		"39.9,116.3,0,-777,39745.56,2008-10-24,13:26:24\r\n" +
		"39.9,116.3,0,100,39745.56,2008-10-24,13:26:25\r\n"
	fixes, stats, err := DecodePLT("mem.plt", []byte(data))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(fixes) != 2 {
		t.Fatalf("fixes = %d, want 2", len(fixes))
	}
	if fixes[0].Has&model.HasAlt != 0 {
		t.Errorf("altitude -777 was kept as %v m", fixes[0].AltM)
	}
	if stats.Skipped[SkipInvalidAltitude] != 1 {
		t.Errorf("invalid altitudes counted = %d, want 1", stats.Skipped[SkipInvalidAltitude])
	}
	if fixes[1].Has&model.HasAlt == 0 || math.Abs(fixes[1].AltM-30.48) > 1e-9 {
		t.Errorf("altitude 100 ft = %v m (has %v), want 30.48 m", fixes[1].AltM, fixes[1].Has&model.HasAlt != 0)
	}
}

func TestReadNMEA(t *testing.T) {
	cases := []struct {
		file        string
		fixes       int
		valid       int
		badChecksum int
		first       string
		last        string
	}{
		{file: "gpsbabel/gpsbabel_track_nmea.nmea", fixes: 154, valid: 154, first: "2004-08-07T03:29:08.379Z", last: "2004-08-07T03:31:41.370Z"},
		// Dated only by a ZDA after midnight: the fixes before it belong
		// to the previous day.
		{file: "gpsbabel/backfilldate.nmea", fixes: 500, valid: 500, first: "2019-03-08T23:56:00Z", last: "2019-03-09T00:04:19Z"},
		{file: "gpsd/firefly-II.log", fixes: 23, valid: 23, badChecksum: 23, first: "2010-07-08T00:59:47Z"},
		{file: "gpsd/gpsdf.log", fixes: 51, valid: 51, badChecksum: 46},
		{file: "gpsd/triton400.log", fixes: 4, valid: 4, badChecksum: 1, first: "2013-04-01T03:01:29Z"},
		// Six RMC sentences report status V (no fix) before the receiver
		// locks on.
		{file: "gpsd/haicom-305N.log", fixes: 74, valid: 68},
		{file: "gpsd/hp58534a.log", fixes: 2, valid: 2},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			fixes, stats, err := ReadNMEA(sharedData(t, "nmea/"+tc.file))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			checkFixes(t, fixes, stats)
			if len(fixes) != tc.fixes {
				t.Errorf("fixes = %d, want %d", len(fixes), tc.fixes)
			}
			if stats.Valid != tc.valid {
				t.Errorf("valid = %d, want %d", stats.Valid, tc.valid)
			}
			if got := stats.Skipped[SkipBadChecksum]; got != tc.badChecksum {
				t.Errorf("bad checksums = %d, want %d", got, tc.badChecksum)
			}
			if tc.first != "" && !fixes[0].Time.Equal(mustTime(t, tc.first)) {
				t.Errorf("first time = %v, want %s", fixes[0].Time, tc.first)
			}
			if tc.last != "" && !fixes[len(fixes)-1].Time.Equal(mustTime(t, tc.last)) {
				t.Errorf("last time = %v, want %s", fixes[len(fixes)-1].Time, tc.last)
			}
		})
	}
}

func TestReadNMEAUTF16MatchesUTF8(t *testing.T) {
	utf8Fixes, utf8Stats, err := ReadNMEA(sharedData(t, "nmea/gpsbabel/gpsbabel_track_nmea.nmea"))
	if err != nil {
		t.Fatalf("read utf-8: %v", err)
	}
	utf16Fixes, utf16Stats, err := ReadNMEA(sharedData(t, "nmea/gpsbabel/nmea_utf16le.nmea"))
	if err != nil {
		t.Fatalf("read utf-16: %v", err)
	}
	if len(utf16Fixes) != len(utf8Fixes) {
		t.Fatalf("utf-16 fixes = %d, utf-8 fixes = %d", len(utf16Fixes), len(utf8Fixes))
	}
	for i := range utf8Fixes {
		if utf16Fixes[i] != utf8Fixes[i] {
			t.Fatalf("fix %d differs: utf-16 %+v, utf-8 %+v", i, utf16Fixes[i], utf8Fixes[i])
		}
	}
	if utf16Stats.String() != utf8Stats.String() {
		t.Errorf("stats differ: utf-16 %s, utf-8 %s", utf16Stats, utf8Stats)
	}
}

func TestDecodeNMEA(t *testing.T) {
	cases := []struct {
		name   string
		lines  []string
		times  []string
		valid  []bool
		skips  map[SkipReason]int
		merged bool // GGA altitude and RMC speed on the same fix
	}{
		{
			name: "rollover forward after RMC date",
			lines: []string{
				"$GPRMC,235959.00,A,2853.448,N,12002.550,E,10.0,90.0,311226,,",
				"$GPGGA,000001.00,2853.448,N,12002.551,E,1,08,0.9,96.0,M,0.0,M,,",
			},
			times: []string{"2026-12-31T23:59:59Z", "2027-01-01T00:00:01Z"},
			valid: []bool{true, true},
		},
		{
			name: "gga and rmc merged per epoch",
			lines: []string{
				"$GPGGA,093000.00,2853.448,N,12002.550,E,1,08,0.9,96.0,M,0.0,M,,",
				"$GPRMC,093000.00,A,2853.448,N,12002.550,E,20.0,270.0,041226,,",
			},
			times:  []string{"2026-12-04T09:30:00Z"},
			valid:  []bool{true},
			merged: true,
		},
		{
			name: "no fix is invalid",
			lines: []string{
				"$GPRMC,093000.00,V,2853.448,N,12002.550,E,,,041226,,",
				"$GPGGA,093001.00,2853.448,N,12002.550,E,0,00,,,M,,M,,",
				"$GPRMC,093001.00,V,2853.448,N,12002.550,E,,,041226,,",
				"$GPRMC,093002.00,V,,,,,,,041226,,",
			},
			times: []string{"2026-12-04T09:30:00Z", "2026-12-04T09:30:01Z"},
			valid: []bool{false, false},
			skips: map[SkipReason]int{SkipNoPosition: 1},
		},
		{
			name: "bad checksum dropped",
			lines: []string{
				"$GPRMC,093000.00,A,2853.448,N,12002.550,E,20.0,270.0,041226,,*00",
				"$GPRMC,093001.00,A,2853.448,N,12002.550,E,20.0,270.0,041226,,",
			},
			times: []string{"2026-12-04T09:30:01Z"},
			valid: []bool{true},
			skips: map[SkipReason]int{SkipBadChecksum: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fixes, stats, err := DecodeNMEA("mem.nmea", []byte(strings.Join(tc.lines, "\r\n")))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(fixes) != len(tc.times) {
				t.Fatalf("fixes = %d, want %d (stats %s)", len(fixes), len(tc.times), stats)
			}
			for i := range fixes {
				if want := mustTime(t, tc.times[i]); !fixes[i].Time.Equal(want) {
					t.Errorf("fix %d time = %v, want %v", i, fixes[i].Time, want)
				}
				if fixes[i].Valid != tc.valid[i] {
					t.Errorf("fix %d valid = %v, want %v", i, fixes[i].Valid, tc.valid[i])
				}
			}
			for reason, n := range tc.skips {
				if stats.Skipped[reason] != n {
					t.Errorf("skipped %s = %d, want %d", reason, stats.Skipped[reason], n)
				}
			}
			if tc.merged {
				f := fixes[0]
				if f.Has&model.HasAlt == 0 || f.AltM != 96 {
					t.Errorf("altitude from GGA = %v (has %v), want 96", f.AltM, f.Has&model.HasAlt != 0)
				}
				if f.Has&model.HasSpeed == 0 || math.Abs(f.SpeedKmh-20*1.852) > 1e-9 {
					t.Errorf("speed from RMC = %v km/h, want %v", f.SpeedKmh, 20*1.852)
				}
				if math.Abs(f.Lat-(28+53.448/60)) > 1e-12 || math.Abs(f.Lon-(120+2.550/60)) > 1e-12 {
					t.Errorf("position = %v,%v", f.Lat, f.Lon)
				}
			}
		})
	}
}

func TestReadOwnTracksRec(t *testing.T) {
	fixes, stats, err := ReadOwnTracksRec(sharedData(t, "owntracks/demo-iphone.rec"))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	checkFixes(t, fixes, stats)
	if len(fixes) != 23 {
		t.Errorf("fixes = %d, want 23", len(fixes))
	}
	// The two lwt lines, one with tst as a string, are not locations.
	if got := stats.Skipped[SkipNotLocation]; got != 2 {
		t.Errorf("not-location lines = %d, want 2", got)
	}
	if want := time.Unix(1440395361, 0).UTC(); !fixes[0].Time.Equal(want) {
		t.Errorf("first time = %v, want %v (from tst)", fixes[0].Time, want)
	}
	first := fixes[0]
	if first.Has&model.HasSpeed != 0 || first.Has&model.HasHeading != 0 {
		t.Errorf("vel and cog of -1 were kept: has %b", first.Has)
	}
	if first.Has&model.HasAccuracy == 0 || first.AccuracyM != 3000 {
		t.Errorf("accuracy = %v, want 3000", first.AccuracyM)
	}
	last := fixes[len(fixes)-1]
	if last.Has&model.HasSpeed == 0 {
		t.Error("last fix has no speed")
	}
}

func TestReadTrackDetectsFormat(t *testing.T) {
	cases := []struct {
		rel  string
		want Format
	}{
		{"trajectories/gpsbabel/sbn-v13.gpx", FormatGPX},
		{"trajectories/geolife/008/20081024132624.plt", FormatPLT},
		{"nmea/gpsbabel/nmea_utf16le.nmea", FormatNMEA},
		{"nmea/gpsd/humminbird-M37.log", FormatNMEA},
		{"owntracks/demo-iphone.rec", FormatOwnTracks},
		{"owntracks/owntracks_doc_location_payloads.jsonl", FormatOwnTracks},
	}
	for _, tc := range cases {
		t.Run(filepath.Base(tc.rel), func(t *testing.T) {
			fixes, _, format, err := ReadTrack(sharedData(t, tc.rel))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if format != tc.want {
				t.Errorf("format = %s, want %s", format, tc.want)
			}
			if len(fixes) == 0 {
				t.Error("no fixes")
			}
		})
	}
}

func TestParseErrorNamesLine(t *testing.T) {
	pltHeader := "Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n"
	cases := []struct {
		name   string
		format Format
		data   string
		line   int
		target error
	}{
		{"plt bad latitude", FormatPLT, pltHeader + "39.9,116.3,0,1,0,2008-10-24,13:26:24\nabc,116.3,0,1,0,2008-10-24,13:26:25\n", 8, nil},
		{"plt wrong header", FormatPLT, "hello\n", 1, nil},
		{"gpx latitude out of range", FormatGPX, "<gpx>\n<trk><trkseg>\n<trkpt lat=\"91\" lon=\"1\"><time>2020-01-01T00:00:00Z</time></trkpt>\n</trkseg></trk></gpx>", 3, nil},
		{"gpx broken xml", FormatGPX, "<gpx>\n<trk>\n<trkseg></trk>", 3, nil},
		{"rec invalid json", FormatOwnTracks, "{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":1}\n{\"_type\":\n", 2, nil},
		{"nmea without fixes", FormatNMEA, "$GPGSA,A,1,,,,*32\n", 0, ErrNoFixes},
		{"unknown format", FormatUnknown, "hello", 0, ErrUnknownFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeTrack("in.mem", tc.format, []byte(tc.data))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want a *ParseError", err)
			}
			if pe.Path != "in.mem" || pe.Line != tc.line {
				t.Errorf("error at %s:%d, want in.mem:%d (%v)", pe.Path, pe.Line, tc.line, err)
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("error = %v, want %v", err, tc.target)
			}
		})
	}
}
