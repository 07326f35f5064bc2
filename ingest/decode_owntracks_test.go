package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// sharedOwnTracksDir holds real OwnTracks payloads from the OwnTracks
// Recorder and booklet documentation, beside the repository checkout.
const sharedOwnTracksDir = "../../shared/data/owntracks"

// otReceived is the receive time used by the synthetic OwnTracks tests:
// 2024-02-02 07:15:59 UTC, ten seconds after the tst 1706858149.
var otReceived = time.Unix(1706858159, 0).UTC()

func TestDecodeOwnTracksLocation(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    model.Fix
	}{
		{
			name:    "full",
			payload: `{"_type":"location","lat":48.856826,"lon":2.292713,"tst":1706858149,"acc":12,"alt":154,"vel":61,"cog":271,"batt":53,"tid":"j1","vac":3,"conn":"w"}`,
			want: model.Fix{Lat: 48.856826, Lon: 2.292713, Time: time.Unix(1706858149, 0).UTC(),
				AccuracyM: 12, AltM: 154, SpeedKmh: 61, HeadingDeg: 271,
				Has: model.HasAccuracy | model.HasAlt | model.HasSpeed | model.HasHeading},
		},
		{
			name:    "tst as numeric string",
			payload: `{"_type":"location","lat":48.85,"lon":2.29,"tst":"1706858149"}`,
			want:    model.Fix{Lat: 48.85, Lon: 2.29, Time: time.Unix(1706858149, 0).UTC()},
		},
		{
			name:    "tst fractional seconds",
			payload: `{"_type":"location","lat":48.85,"lon":2.29,"tst":1706858149.25}`,
			want:    model.Fix{Lat: 48.85, Lon: 2.29, Time: time.Unix(1706858149, 250e6).UTC()},
		},
		{
			name:    "tst missing uses receive time",
			payload: `{"_type":"location","lat":48.85,"lon":2.29,"tid":"JJ"}`,
			want:    model.Fix{Lat: 48.85, Lon: 2.29, Time: otReceived},
		},
		{
			name:    "vel and cog unknown",
			payload: `{"_type":"location","lat":48.85,"lon":2.29,"tst":1706858149,"vel":-1,"cog":-1,"acc":0}`,
			want:    model.Fix{Lat: 48.85, Lon: 2.29, Time: time.Unix(1706858149, 0).UTC(), Has: model.HasAccuracy},
		},
		{
			name:    "vel zero is known",
			payload: `{"_type":"location","lat":48.85,"lon":2.29,"tst":1706858149,"vel":0,"cog":0}`,
			want:    model.Fix{Lat: 48.85, Lon: 2.29, Time: time.Unix(1706858149, 0).UTC(), Has: model.HasSpeed | model.HasHeading},
		},
		{
			name:    "null optional fields",
			payload: `{"_type":"location","lat":48.85,"lon":2.29,"tst":1706858149,"acc":null,"alt":null}`,
			want:    model.Fix{Lat: 48.85, Lon: 2.29, Time: time.Unix(1706858149, 0).UTC()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := DecodeOwnTracks(testTerminal, []byte(tt.payload), otReceived, DefaultLimits())
			if len(res.Rejects) != 0 || len(res.Fixes) != 1 {
				t.Fatalf("got %d fixes and rejections %v, want one fix", len(res.Fixes), res.Rejects)
			}
			if res.Ignored != "" {
				t.Errorf("Ignored = %q, want empty", res.Ignored)
			}
			want := tt.want
			want.Terminal = testTerminal
			want.ReceivedAt = otReceived
			want.Valid = true
			want.Source = model.SourceRealtime
			if got := res.Fixes[0]; got != want {
				t.Errorf("fix =\n%+v\nwant\n%+v", got, want)
			}
			checkInvariants(t, &res.Fixes[0], otReceived, DefaultLimits())
		})
	}
}

func TestDecodeOwnTracksIgnored(t *testing.T) {
	tests := []struct {
		payload string
		want    string
	}{
		{`{"_type":"lwt","tst":"1440363922"}`, "lwt"},
		{`{"_type":"transition","event":"enter","lat":48.87,"lon":2.35,"tst":1707057574,"wtst":1610104395}`, "transition"},
		{`{"_type":"waypoint","desc":"home","lat":48.87,"lon":2.35,"rad":"50","tst":"1385997757"}`, "waypoint"},
		{`{"_type":"waypoints","waypoints":[]}`, "waypoints"},
		{`{"_type":"card","name":"Jane"}`, "card"},
		{`{"_type":"status","iOS":{}}`, "status"},
		{`{"_type":"cmd","action":"reportLocation"}`, "cmd"},
		{`{"_type":"encrypted","data":"AAAA"}`, "encrypted"},
		{`{"_type":"something-new","x":1}`, "other"},
		{`{"_type":"","x":1}`, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			res := DecodeOwnTracks(testTerminal, []byte(tt.payload), otReceived, DefaultLimits())
			if res.Ignored != tt.want {
				t.Errorf("Ignored = %q, want %q", res.Ignored, tt.want)
			}
			if len(res.Fixes) != 0 || len(res.Rejects) != 0 {
				t.Errorf("got %d fixes and rejections %v, want neither", len(res.Fixes), res.Rejects)
			}
		})
	}
}

func TestDecodeOwnTracksRejects(t *testing.T) {
	loc := func(fields string) string { return `{"_type":"location","lat":48.85,"lon":2.29,` + fields + `}` }
	tests := []rejectCase{
		{"not json", `{"_type":"location",`, ReasonMalformedJSON, "", -1, "not valid JSON"},
		{"array payload", `[{"_type":"location"}]`, ReasonNotObject, "", -1, "expected an OwnTracks JSON object"},
		{"no type", `{"count":1,"data":[{"_type":"location","lat":1,"lon":2}]}`, ReasonMissingField, "_type", -1, "not an OwnTracks message"},
		{"type not string", `{"_type":5}`, ReasonWrongType, "_type", -1, "_type must be a string"},
		{"missing lat", `{"_type":"location","lon":2.29,"tst":1706858149}`, ReasonMissingField, "lat", -1, "lat is required"},
		{"missing lon", `{"_type":"location","lat":48.85,"tst":1706858149}`, ReasonMissingField, "lon", -1, "lon is required"},
		{"lat string", `{"_type":"location","lat":"48.85","lon":2.29,"tst":1706858149}`, ReasonWrongType, "lat", -1, "lat must be a number"},
		{"lat swapped", `{"_type":"location","lat":121.47,"lon":31.23,"tst":1706858149}`, ReasonOutOfRange, "lat", -1, "coordinates may be swapped"},
		{"tst not numeric", loc(`"tst":"yesterday"`), ReasonBadTime, "tst", -1, `tst "yesterday" is not Unix seconds`},
		{"tst signed string", loc(`"tst":"-5"`), ReasonBadTime, "tst", -1, "is not Unix seconds"},
		{"tst as bool", loc(`"tst":true`), ReasonWrongType, "tst", -1, "tst must be Unix seconds"},
		{"tst milliseconds", loc(`"tst":1706858149000`), ReasonFutureTime, "tst", -1, "looks like Unix milliseconds, but tst must be Unix seconds"},
		{"tst milliseconds string", loc(`"tst":"1706858149000"`), ReasonFutureTime, "tst", -1, "looks like Unix milliseconds"},
		{"tst huge", loc(`"tst":9223372036854775807`), ReasonFutureTime, "tst", -1, "later than the receive time"},
		{"tst future", loc(`"tst":1706858765`), ReasonFutureTime, "tst", -1, "after the receive time"},
		{"tst zero", loc(`"tst":0`), ReasonTooOld, "tst", -1, "1970-01-01T00:00:00Z is before the earliest accepted time"},
		{"tst overflow", loc(`"tst":1e400`), ReasonNotFinite, "tst", -1, "not a finite float64"},
		{"too large", loc(`"tst":1706858149,"pad":"` + strings.Repeat("x", DefaultMaxPayloadBytes) + `"`), ReasonPayloadTooLarge, "", -1, "exceeds the maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := DecodeOwnTracks(testTerminal, []byte(tt.payload), otReceived, DefaultLimits())
			assertReject(t, res, tt)
			if res.Ignored != "" {
				t.Errorf("Ignored = %q, want empty", res.Ignored)
			}
		})
	}
}

func skipWithoutShared(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared OwnTracks data not found at %s (%v); it lives beside the repository checkout in shared/data", path, err)
	}
}

// TestDecodeOwnTracksRecorderFile decodes the Recorder's demo .rec file:
// each line is the receive time, a tab, a marker column, a tab and the
// payload as published.
func TestDecodeOwnTracksRecorderFile(t *testing.T) {
	path := filepath.Join(sharedOwnTracksDir, "demo-iphone.rec")
	skipWithoutShared(t, path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()

	var locations, lwts, stringTst int
	scanner := bufio.NewScanner(f)
	for line := 1; scanner.Scan(); line++ {
		cols := strings.SplitN(scanner.Text(), "\t", 3)
		if len(cols) != 3 {
			t.Fatalf("line %d: %d tab-separated columns, want 3", line, len(cols))
		}
		received, err := time.Parse(time.RFC3339, cols[0])
		if err != nil {
			t.Fatalf("line %d: receive time: %v", line, err)
		}
		payload := []byte(cols[2])
		var doc map[string]any
		if err := json.Unmarshal(payload, &doc); err != nil {
			t.Fatalf("line %d: payload is not JSON: %v", line, err)
		}
		if _, ok := doc["tst"].(string); ok {
			stringTst++
		}

		res := DecodeOwnTracks(testTerminal, payload, received, DefaultLimits())
		switch doc["_type"] {
		case "location":
			locations++
			if len(res.Rejects) != 0 || len(res.Fixes) != 1 {
				t.Errorf("line %d: got %d fixes and rejections %v, want one fix", line, len(res.Fixes), res.Rejects)
				continue
			}
			fix := res.Fixes[0]
			checkInvariants(t, &fix, received, DefaultLimits())
			wantTime := time.Unix(int64(doc["tst"].(float64)), 0).UTC()
			if !fix.Time.Equal(wantTime) {
				t.Errorf("line %d: Time = %v, want %v", line, fix.Time, wantTime)
			}
			if fix.Lat != doc["lat"].(float64) || fix.Lon != doc["lon"].(float64) {
				t.Errorf("line %d: position %v,%v, want %v,%v", line, fix.Lat, fix.Lon, doc["lat"], doc["lon"])
			}
			if fix.AccuracyM != doc["acc"].(float64) || fix.Has&model.HasAccuracy == 0 {
				t.Errorf("line %d: AccuracyM %v, want %v", line, fix.AccuracyM, doc["acc"])
			}
			checkUnknownOrValue(t, line, "vel", doc["vel"], fix.Has&model.HasSpeed != 0, fix.SpeedKmh)
			checkUnknownOrValue(t, line, "cog", doc["cog"], fix.Has&model.HasHeading != 0, fix.HeadingDeg)
		case "lwt":
			lwts++
			if res.Ignored != "lwt" || len(res.Rejects) != 0 || len(res.Fixes) != 0 {
				t.Errorf("line %d: lwt gave Ignored %q, %d fixes, rejections %v", line, res.Ignored, len(res.Fixes), res.Rejects)
			}
		default:
			t.Errorf("line %d: unexpected _type %v", line, doc["_type"])
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if locations == 0 || lwts == 0 || stringTst == 0 {
		t.Errorf("file had %d locations, %d lwt and %d string tst; want each at least once", locations, lwts, stringTst)
	}
}

// TestDecodeOwnTracksDocPayloads decodes the JSON examples of the
// OwnTracks documentation: every location decodes, every other message is
// ignored or, for Recorder API responses that are not MQTT payloads at
// all, rejected as lacking _type.
func TestDecodeOwnTracksDocPayloads(t *testing.T) {
	t.Run("locations", func(t *testing.T) {
		lines := readLines(t, filepath.Join(sharedOwnTracksDir, "owntracks_doc_location_payloads.jsonl"))
		for i, line := range lines {
			received := receivedForDoc(t, line)
			res := DecodeOwnTracks(testTerminal, line, received, DefaultLimits())
			if len(res.Rejects) != 0 || len(res.Fixes) != 1 {
				t.Errorf("line %d: got %d fixes and rejections %v, want one fix", i+1, len(res.Fixes), res.Rejects)
				continue
			}
			checkInvariants(t, &res.Fixes[0], received, DefaultLimits())
		}
	})
	t.Run("others", func(t *testing.T) {
		lines := readLines(t, filepath.Join(sharedOwnTracksDir, "owntracks_doc_other_payloads.jsonl"))
		var ignored, rejected int
		for i, line := range lines {
			res := DecodeOwnTracks(testTerminal, line, otReceived, DefaultLimits())
			if len(res.Fixes) != 0 {
				t.Errorf("line %d: got fixes %+v from a non-location message", i+1, res.Fixes)
			}
			switch {
			case bytes.HasPrefix(line, []byte(`{"_type":`)):
				ignored++
				if res.Ignored == "" || res.Ignored == ownTracksOther || len(res.Rejects) != 0 {
					t.Errorf("line %d: Ignored %q, rejections %v; want a known type ignored", i+1, res.Ignored, res.Rejects)
				}
			default:
				rejected++
				if len(res.Rejects) != 1 || res.Rejects[0].Reason != ReasonMissingField || res.Rejects[0].Field != "_type" {
					t.Errorf("line %d: rejections %v, want one missing _type", i+1, res.Rejects)
				}
			}
		}
		if ignored == 0 || rejected == 0 {
			t.Errorf("%d ignored and %d rejected lines; want both kinds present", ignored, rejected)
		}
	})
}

// checkUnknownOrValue compares a decoded vel or cog with the payload,
// where -1 means unknown and must leave the field unset.
func checkUnknownOrValue(t *testing.T, line int, field string, sent any, has bool, got float64) {
	t.Helper()
	want, ok := sent.(float64)
	if !ok {
		t.Fatalf("line %d: %s is %v, want a number in this file", line, field, sent)
	}
	if want == -1 {
		if has {
			t.Errorf("line %d: %s -1 marked present", line, field)
		}
		return
	}
	if !has || got != want {
		t.Errorf("line %d: %s decoded as %v (present %v), want %v", line, field, got, has, want)
	}
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	skipWithoutShared(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var lines [][]byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("%s has no payload lines", path)
	}
	return lines
}

// receivedForDoc picks a receive time shortly after a documentation
// example's tst, because the examples span 2015 to 2024.
func receivedForDoc(t *testing.T, line []byte) time.Time {
	t.Helper()
	var doc struct {
		Tst json.Number `json:"tst"`
	}
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	if doc.Tst == "" {
		return otReceived
	}
	tst, err := doc.Tst.Int64()
	if err != nil {
		t.Fatalf("tst %q: %v", doc.Tst, err)
	}
	return time.Unix(tst+30, 0).UTC()
}

// TestDecodeOwnTracksDropsBadOptionalField feeds optional measurement fields that are of the wrong type or out
// of range: the fix is kept without that field, and the problem is listed
// in Dropped with its reason.
func TestDecodeOwnTracksDropsBadOptionalField(t *testing.T) {
	loc := func(fields string) string { return `{"_type":"location","lat":48.85,"lon":2.29,` + fields + `}` }
	tests := []rejectCase{
		{"acc negative", loc(`"tst":1706858149,"acc":-5`), ReasonOutOfRange, "acc", -1, "acc -5 is below the minimum of 0"},
		{"acc string", loc(`"tst":1706858149,"acc":"5"`), ReasonWrongType, "acc", -1, "acc must be a number"},
		{"alt high", loc(`"tst":1706858149,"alt":12000`), ReasonOutOfRange, "alt", -1, "alt 12000 is outside -500..9000"},
		{"vel negative", loc(`"tst":1706858149,"vel":-2`), ReasonOutOfRange, "vel", -1, "vel -2 is outside 0..400; -1 means unknown"},
		{"vel high", loc(`"tst":1706858149,"vel":900`), ReasonOutOfRange, "vel", -1, "vel 900 is outside 0..400"},
		{"cog high", loc(`"tst":1706858149,"cog":361`), ReasonOutOfRange, "cog", -1, "cog 361 is outside 0..360"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := DecodeOwnTracks(testTerminal, []byte(tt.payload), otReceived, DefaultLimits())
			assertDropped(t, res, tt)
		})
	}
}
