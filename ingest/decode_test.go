package ingest

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

const testTerminal = "013912345678"

// testReceived is the receive time used by the fix tests: 2026-12-04
// 09:30:10 in China Standard Time.
var testReceived = time.Date(2026, 12, 4, 1, 30, 10, 0, time.UTC)

// baseFix is a minimal valid fix object, field by field, in the order
// written.
var baseFix = [][2]string{
	{"time", `"2026-12-04T09:30:05+08:00"`},
	{"lat", `28.8908`},
	{"lon", `120.0425`},
}

// fixObject returns baseFix with overrides applied: a key maps to its raw
// JSON value, and the value "-" removes the key. Keys not in baseFix are
// appended in sorted order.
func fixObject(overrides map[string]string) string {
	var parts []string
	used := map[string]bool{}
	for _, kv := range baseFix {
		value := kv[1]
		if o, ok := overrides[kv[0]]; ok {
			used[kv[0]] = true
			value = o
		}
		if value == "-" {
			continue
		}
		parts = append(parts, strconv.Quote(kv[0])+":"+value)
	}

	var extra []string
	for k := range overrides {
		if !used[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		parts = append(parts, strconv.Quote(k)+":"+overrides[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func decodeOne(t *testing.T, payload string) model.Fix {
	t.Helper()
	res := DecodeFix(testTerminal, []byte(payload), testReceived, DefaultLimits())
	if len(res.Rejects) != 0 {
		t.Fatalf("DecodeFix(%s) rejected: %v", payload, res.Rejects)
	}
	if len(res.Fixes) != 1 {
		t.Fatalf("DecodeFix(%s) returned %d fixes, want 1", payload, len(res.Fixes))
	}
	checkInvariants(t, &res.Fixes[0], testReceived, DefaultLimits())
	return res.Fixes[0]
}

func TestDecodeFixMinimal(t *testing.T) {
	fix := decodeOne(t, fixObject(nil))

	if fix.Terminal != testTerminal {
		t.Errorf("Terminal = %q, want %q", fix.Terminal, testTerminal)
	}
	wantTime := time.Date(2026, 12, 4, 1, 30, 5, 0, time.UTC)
	if !fix.Time.Equal(wantTime) {
		t.Errorf("Time = %v, want %v", fix.Time, wantTime)
	}
	if fix.Time.Location() != time.UTC {
		t.Errorf("Time location = %v, want UTC", fix.Time.Location())
	}
	if !fix.ReceivedAt.Equal(testReceived) || fix.ReceivedAt.Location() != time.UTC {
		t.Errorf("ReceivedAt = %v, want %v in UTC", fix.ReceivedAt, testReceived)
	}
	if fix.Lat != 28.8908 || fix.Lon != 120.0425 {
		t.Errorf("position = %v,%v, want 28.8908,120.0425", fix.Lat, fix.Lon)
	}
	if !fix.Valid {
		t.Error("Valid = false, want the default true")
	}
	if fix.Source != model.SourceRealtime {
		t.Errorf("Source = %v, want the default realtime", fix.Source)
	}
	if fix.Has != 0 {
		t.Errorf("Has = %b, want no optional field marked", fix.Has)
	}
}

func TestDecodeFixDesignExample(t *testing.T) {
	payload := `{"time":"2026-12-04T09:30:05+08:00", "lat":28.8908, "lon":120.0425, "alt":96,
 "speed":42.5, "heading":270, "valid":true, "sats":11, "hdop":0.9,
 "accuracy":5, "acc":true, "odometer":12345.6, "alarm":0, "status":3,
 "source":"realtime", "seq":4711}`
	fix := decodeOne(t, payload)

	want := model.Fix{
		Terminal: testTerminal, Time: time.Date(2026, 12, 4, 1, 30, 5, 0, time.UTC), ReceivedAt: testReceived,
		Lat: 28.8908, Lon: 120.0425, AltM: 96, SpeedKmh: 42.5, HeadingDeg: 270, Valid: true,
		Sats: 11, HDOP: 0.9, AccuracyM: 5, ACC: true, OdometerKm: 12345.6, Alarm: 0, Status: 3,
		Source: model.SourceRealtime, Seq: 4711,
		Has: model.HasAlt | model.HasSpeed | model.HasHeading | model.HasSats | model.HasHDOP |
			model.HasAccuracy | model.HasACC | model.HasOdometer | model.HasAlarm | model.HasStatus | model.HasSeq,
	}
	if fix != want {
		t.Errorf("fix =\n%+v\nwant\n%+v", fix, want)
	}
}

func TestDecodeFixFields(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		check  func(t *testing.T, f model.Fix)
	}{
		{"time utc z", map[string]string{"time": `"2026-12-04T01:30:05Z"`}, func(t *testing.T, f model.Fix) {
			assertTime(t, f.Time, time.Date(2026, 12, 4, 1, 30, 5, 0, time.UTC))
		}},
		{"time fractional seconds", map[string]string{"time": `"2026-12-04T09:30:05.25+08:00"`}, func(t *testing.T, f model.Fix) {
			assertTime(t, f.Time, time.Date(2026, 12, 4, 1, 30, 5, 250e6, time.UTC))
		}},
		{"time negative offset", map[string]string{"time": `"2026-12-03T20:30:05-05:00"`}, func(t *testing.T, f model.Fix) {
			assertTime(t, f.Time, time.Date(2026, 12, 4, 1, 30, 5, 0, time.UTC))
		}},
		{"time unix ms integer", map[string]string{"time": `1796347805123`}, func(t *testing.T, f model.Fix) {
			assertTime(t, f.Time, time.UnixMilli(1796347805123).UTC())
		}},
		{"time unix ms fraction", map[string]string{"time": `1796347805123.5`}, func(t *testing.T, f model.Fix) {
			assertTime(t, f.Time, time.UnixMilli(1796347805123).Add(500*time.Microsecond).UTC())
		}},
		{"time unix ms exponent", map[string]string{"time": `1.796347805e12`}, func(t *testing.T, f model.Fix) {
			assertTime(t, f.Time, time.UnixMilli(1796347805000).UTC())
		}},
		{"time within skew", map[string]string{"time": `"2026-12-04T09:35:10+08:00"`}, func(t *testing.T, f model.Fix) {
			assertTime(t, f.Time, testReceived.Add(5*time.Minute))
		}},
		{"lat lon bounds", map[string]string{"lat": `-90`, "lon": `180`}, func(t *testing.T, f model.Fix) {
			if f.Lat != -90 || f.Lon != 180 {
				t.Errorf("position = %v,%v, want -90,180", f.Lat, f.Lon)
			}
		}},
		{"zero position kept", map[string]string{"lat": `0`, "lon": `0`, "valid": `false`}, func(t *testing.T, f model.Fix) {
			if f.Lat != 0 || f.Lon != 0 || f.Valid {
				t.Errorf("got %v,%v valid=%v, want 0,0 valid=false", f.Lat, f.Lon, f.Valid)
			}
		}},
		{"alt", map[string]string{"alt": `-12.5`}, hasFloat(model.HasAlt, func(f model.Fix) float64 { return f.AltM }, -12.5)},
		{"alt max", map[string]string{"alt": `9000`}, hasFloat(model.HasAlt, func(f model.Fix) float64 { return f.AltM }, 9000)},
		{"speed", map[string]string{"speed": `42.5`}, hasFloat(model.HasSpeed, func(f model.Fix) float64 { return f.SpeedKmh }, 42.5)},
		{"speed zero", map[string]string{"speed": `0`}, hasFloat(model.HasSpeed, func(f model.Fix) float64 { return f.SpeedKmh }, 0)},
		{"speed max", map[string]string{"speed": `400`}, hasFloat(model.HasSpeed, func(f model.Fix) float64 { return f.SpeedKmh }, 400)},
		{"heading", map[string]string{"heading": `359.9`}, hasFloat(model.HasHeading, func(f model.Fix) float64 { return f.HeadingDeg }, 359.9)},
		{"heading 360", map[string]string{"heading": `360`}, hasFloat(model.HasHeading, func(f model.Fix) float64 { return f.HeadingDeg }, 360)},
		{"hdop", map[string]string{"hdop": `0.9`}, hasFloat(model.HasHDOP, func(f model.Fix) float64 { return f.HDOP }, 0.9)},
		{"accuracy", map[string]string{"accuracy": `5000`}, hasFloat(model.HasAccuracy, func(f model.Fix) float64 { return f.AccuracyM }, 5000)},
		{"odometer", map[string]string{"odometer": `12345.6`}, hasFloat(model.HasOdometer, func(f model.Fix) float64 { return f.OdometerKm }, 12345.6)},
		{"sats", map[string]string{"sats": `11`}, hasUint(model.HasSats, func(f model.Fix) uint64 { return uint64(f.Sats) }, 11)},
		{"sats max", map[string]string{"sats": `255`}, hasUint(model.HasSats, func(f model.Fix) uint64 { return uint64(f.Sats) }, 255)},
		{"sats written 11.0", map[string]string{"sats": `11.0`}, hasUint(model.HasSats, func(f model.Fix) uint64 { return uint64(f.Sats) }, 11)},
		{"alarm max word", map[string]string{"alarm": `4294967295`}, hasUint(model.HasAlarm, func(f model.Fix) uint64 { return uint64(f.Alarm) }, math.MaxUint32)},
		{"status", map[string]string{"status": `3`}, hasUint(model.HasStatus, func(f model.Fix) uint64 { return uint64(f.Status) }, 3)},
		{"seq max", map[string]string{"seq": `18446744073709551615`}, hasUint(model.HasSeq, func(f model.Fix) uint64 { return f.Seq }, math.MaxUint64)},
		{"seq exponent", map[string]string{"seq": `1e3`}, hasUint(model.HasSeq, func(f model.Fix) uint64 { return f.Seq }, 1000)},
		{"acc false", map[string]string{"acc": `false`}, func(t *testing.T, f model.Fix) {
			if f.Has&model.HasACC == 0 || f.ACC {
				t.Errorf("ACC = %v with Has bit %v, want false and set", f.ACC, f.Has&model.HasACC != 0)
			}
		}},
		{"acc true", map[string]string{"acc": `true`}, func(t *testing.T, f model.Fix) {
			if f.Has&model.HasACC == 0 || !f.ACC {
				t.Errorf("ACC = %v with Has bit %v, want true and set", f.ACC, f.Has&model.HasACC != 0)
			}
		}},
		{"valid false", map[string]string{"valid": `false`}, func(t *testing.T, f model.Fix) {
			if f.Valid {
				t.Error("Valid = true, want false")
			}
		}},
		{"source batch", map[string]string{"source": `"batch"`}, hasSource(model.SourceBatch)},
		{"source blind", map[string]string{"source": `"blind"`}, hasSource(model.SourceBlind)},
		{"source realtime", map[string]string{"source": `"realtime"`}, hasSource(model.SourceRealtime)},
		{"crs wgs84", map[string]string{"crs": `"wgs84"`}, func(t *testing.T, f model.Fix) {}},
		{"crs WGS84 upper case", map[string]string{"crs": `"WGS84"`}, func(t *testing.T, f model.Fix) {}},
		{"null optional field ignored", map[string]string{"alt": `null`, "seq": `null`}, func(t *testing.T, f model.Fix) {
			if f.Has != 0 {
				t.Errorf("Has = %b, want nothing for null fields", f.Has)
			}
		}},
		{"unknown fields ignored", map[string]string{"driver": `"张三"`, "extra": `{"a":[1,2,{"b":null}]}`, "lat_": `"x"`}, func(t *testing.T, f model.Fix) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, decodeOne(t, fixObject(tt.fields)))
		})
	}

	t.Run("escaped key recognised", func(t *testing.T) {
		f := decodeOne(t, `{"time":1796347805000,"lat":28.1,"lon":120.1,"sp\u0065ed":10}`)
		hasFloat(model.HasSpeed, func(f model.Fix) float64 { return f.SpeedKmh }, 10)(t, f)
	})
}

func assertTime(t *testing.T, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("Time = %v, want %v", got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("Time location = %v, want UTC", got.Location())
	}
}

func hasFloat(bit model.FieldSet, get func(model.Fix) float64, want float64) func(*testing.T, model.Fix) {
	return func(t *testing.T, f model.Fix) {
		t.Helper()
		if f.Has&bit == 0 {
			t.Errorf("Has bit %b not set", bit)
		}
		if f.Has != bit {
			t.Errorf("Has = %b, want only %b", f.Has, bit)
		}
		if got := get(f); got != want {
			t.Errorf("value = %v, want %v", got, want)
		}
	}
}

func hasUint(bit model.FieldSet, get func(model.Fix) uint64, want uint64) func(*testing.T, model.Fix) {
	return func(t *testing.T, f model.Fix) {
		t.Helper()
		if f.Has != bit {
			t.Errorf("Has = %b, want only %b", f.Has, bit)
		}
		if got := get(f); got != want {
			t.Errorf("value = %d, want %d", got, want)
		}
	}
}

func hasSource(want model.Source) func(*testing.T, model.Fix) {
	return func(t *testing.T, f model.Fix) {
		t.Helper()
		if f.Source != want {
			t.Errorf("Source = %v, want %v", f.Source, want)
		}
	}
}

// rejectCase is one payload that must be rejected with one specific
// problem first.
type rejectCase struct {
	name    string
	payload string
	reason  Reason
	field   string
	index   int
	// message must be contained in the rejection message.
	message string
}

func TestDecodeFixRejects(t *testing.T) {
	tests := []rejectCase{
		{"not json", `lat=28.1`, ReasonMalformedJSON, "", -1, "not valid JSON"},
		{"truncated object", `{"time":1796347805000,"lat":28.1`, ReasonMalformedJSON, "", -1, "not valid JSON"},
		{"bare NaN", fixObject(map[string]string{"lat": `NaN`}), ReasonMalformedJSON, "", -1, "not valid JSON"},
		{"leading zero", fixObject(map[string]string{"seq": `0123`}), ReasonMalformedJSON, "", -1, "not valid JSON"},
		{"trailing data", fixObject(nil) + ` x`, ReasonMalformedJSON, "", -1, "not valid JSON"},
		{"empty payload", ``, ReasonMalformedJSON, "", -1, "not valid JSON"},
		{"number payload", `42`, ReasonNotObject, "", -1, "number 42"},
		{"string payload", `"fix"`, ReasonNotObject, "", -1, `string "fix"`},
		{"null payload", `null`, ReasonNotObject, "", -1, "null"},
		{"missing time", fixObject(map[string]string{"time": "-"}), ReasonMissingField, "time", -1, "time is required"},
		{"null time", fixObject(map[string]string{"time": "null"}), ReasonMissingField, "time", -1, "time is required"},
		{"missing lat", fixObject(map[string]string{"lat": "-"}), ReasonMissingField, "lat", -1, "lat is required"},
		{"missing lon", fixObject(map[string]string{"lon": "-"}), ReasonMissingField, "lon", -1, "lon is required"},
		{"lat as string", fixObject(map[string]string{"lat": `"28.89"`}), ReasonWrongType, "lat", -1, `lat must be a number, got string "28.89"`},
		{"lat NaN string", fixObject(map[string]string{"lat": `"NaN"`}), ReasonWrongType, "lat", -1, `got string "NaN"`},
		{"lon Infinity string", fixObject(map[string]string{"lon": `"Infinity"`}), ReasonWrongType, "lon", -1, `got string "Infinity"`},
		{"lat as bool", fixObject(map[string]string{"lat": `true`}), ReasonWrongType, "lat", -1, "got true"},
		{"lon as array", fixObject(map[string]string{"lon": `[120.0]`}), ReasonWrongType, "lon", -1, "got an array"},
		{"time as bool", fixObject(map[string]string{"time": `false`}), ReasonWrongType, "time", -1, "got false"},
		{"time as object", fixObject(map[string]string{"time": `{}`}), ReasonWrongType, "time", -1, "got an object"},
		{"valid as number", fixObject(map[string]string{"valid": `1`}), ReasonWrongType, "valid", -1, "valid must be true or false, got number 1"},
		{"valid as string", fixObject(map[string]string{"valid": `"true"`}), ReasonWrongType, "valid", -1, "valid must be true or false"},
		{"acc as number", fixObject(map[string]string{"acc": `1`}), ReasonWrongType, "acc", -1, "acc must be true or false"},
		{"alarm fractional", fixObject(map[string]string{"alarm": `0.5`}), ReasonWrongType, "alarm", -1, "alarm 0.5 is not an integer"},
		{"status as string", fixObject(map[string]string{"status": `"3"`}), ReasonWrongType, "status", -1, "status must be an integer"},
		{"seq as string", fixObject(map[string]string{"seq": `"4711"`}), ReasonWrongType, "seq", -1, "seq must be an integer"},
		{"seq inexact exponent", fixObject(map[string]string{"seq": `1e19`}), ReasonWrongType, "seq", -1, "not an exact integer"},
		{"source as number", fixObject(map[string]string{"source": `1`}), ReasonWrongType, "source", -1, "source must be a string"},
		{"crs as number", fixObject(map[string]string{"crs": `4326`}), ReasonWrongType, "crs", -1, "crs must be a string"},
		{"lat swapped", fixObject(map[string]string{"lat": `121.47`, "lon": `31.23`}), ReasonOutOfRange, "lat", -1, "lat 121.47 is outside -90..90; coordinates may be swapped"},
		{"lat far out", fixObject(map[string]string{"lat": `-270.6`}), ReasonOutOfRange, "lat", -1, "lat -270.6 is outside -90..90"},
		{"lon out", fixObject(map[string]string{"lon": `-270.608`}), ReasonOutOfRange, "lon", -1, "lon -270.608 is outside -180..180"},
		{"alarm above word", fixObject(map[string]string{"alarm": `4294967296`}), ReasonOutOfRange, "alarm", -1, "alarm 4294967296 is outside 0..4294967295"},
		{"status negative", fixObject(map[string]string{"status": `-3`}), ReasonOutOfRange, "status", -1, "status -3 is outside 0..4294967295"},
		{"seq above uint64", fixObject(map[string]string{"seq": `18446744073709551616`}), ReasonOutOfRange, "seq", -1, "is outside 0..18446744073709551615"},
		{"lat overflow", fixObject(map[string]string{"lat": `1e400`}), ReasonNotFinite, "lat", -1, "lat 1e400 is not a finite float64"},
		{"time overflow", fixObject(map[string]string{"time": `1e400`}), ReasonNotFinite, "time", -1, "not a finite float64"},
		{"time no offset", fixObject(map[string]string{"time": `"2026-12-04T09:30:05"`}), ReasonBadTime, "time", -1, "has no UTC offset; add one such as +08:00 or Z"},
		{"time date only", fixObject(map[string]string{"time": `"2026-12-04"`}), ReasonBadTime, "time", -1, "is not an RFC 3339 time"},
		{"time space separator", fixObject(map[string]string{"time": `"2026-12-04 09:30:05+08:00"`}), ReasonBadTime, "time", -1, "is not an RFC 3339 time"},
		{"time invalid month", fixObject(map[string]string{"time": `"2026-13-04T09:30:05Z"`}), ReasonBadTime, "time", -1, "is not an RFC 3339 time"},
		{"time junk", fixObject(map[string]string{"time": `"yesterday"`}), ReasonBadTime, "time", -1, `time "yesterday"`},
		{"time long junk quoted short", fixObject(map[string]string{"time": `"` + strings.Repeat("x", 200) + `"`}), ReasonBadTime, "time", -1, `xxx..."`},
		{"time future string", fixObject(map[string]string{"time": `"2026-12-04T09:35:11+08:00"`}), ReasonFutureTime, "time", -1, "is 5m1s after the receive time 2026-12-04T01:30:10Z; the allowed clock skew is 5m0s"},
		{"time future ms", fixObject(map[string]string{"time": `1796351405000`}), ReasonFutureTime, "time", -1, "after the receive time"},
		{"time far future ms", fixObject(map[string]string{"time": `9223372036854775807`}), ReasonFutureTime, "time", -1, "after the receive time"},
		{"time far future float", fixObject(map[string]string{"time": `1e300`}), ReasonFutureTime, "time", -1, "1e+300 is later than the receive time"},
		{"time 1999 rollover", fixObject(map[string]string{"time": `"1999-08-22T00:00:05Z"`}), ReasonTooOld, "time", -1, "before the earliest accepted time 2000-01-01T00:00:00Z; check the unit's clock and GNSS week rollover"},
		{"time gps epoch", fixObject(map[string]string{"time": `"1980-01-06T00:00:00Z"`}), ReasonTooOld, "time", -1, "before the earliest accepted time"},
		{"time seconds not ms", fixObject(map[string]string{"time": `1796347805`}), ReasonTooOld, "time", -1, "looks like Unix seconds, but time must be Unix milliseconds"},
		{"time negative ms", fixObject(map[string]string{"time": `-1`}), ReasonTooOld, "time", -1, "1969-12-31T23:59:59.999Z"},
		{"time far past float", fixObject(map[string]string{"time": `-1e300`}), ReasonTooOld, "time", -1, "-1e+300 is before the earliest accepted time"},
		{"crs unknown", fixObject(map[string]string{"crs": `"epsg3857"`}), ReasonUnsupportedCRS, "crs", -1, `crs "epsg3857" is not supported; use wgs84 (the default), gcj02 or bd09`},
		{"crs empty", fixObject(map[string]string{"crs": `""`}), ReasonUnsupportedCRS, "crs", -1, `crs "" is not supported`},
		{"crs gcj02 swapped", fixObject(map[string]string{"crs": `"gcj02"`, "lat": `121.47`, "lon": `31.23`}), ReasonOutOfRange, "lat", -1, "coordinates may be swapped"},
		{"source unknown", fixObject(map[string]string{"source": `"replay"`}), ReasonInvalidValue, "source", -1, `source "replay" is not one of realtime, batch, blind`},
		{"source empty", fixObject(map[string]string{"source": `""`}), ReasonInvalidValue, "source", -1, `source "" is not one of`},
		{"duplicate lat", `{"time":1796347805000,"lat":28.1,"lon":120.1,"lat":29.1}`, ReasonDuplicateField, "lat", -1, "lat appears more than once"},
		{"duplicate after null", `{"time":1796347805000,"lat":28.1,"lon":120.1,"alt":null,"alt":5}`, ReasonDuplicateField, "alt", -1, "alt appears more than once"},
		{"empty batch", `[]`, ReasonEmptyBatch, "", -1, "empty array"},
		{"empty batch spaces", " [ ] ", ReasonEmptyBatch, "", -1, "empty array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := DecodeFix(testTerminal, []byte(tt.payload), testReceived, DefaultLimits())
			assertReject(t, res, tt)
		})
	}
}

func assertReject(t *testing.T, res Result, tt rejectCase) {
	t.Helper()
	if len(res.Fixes) != 0 {
		t.Errorf("accepted %d fixes, want none: %+v", len(res.Fixes), res.Fixes)
	}
	if len(res.Rejects) == 0 {
		t.Fatalf("no rejection, want %v", tt.reason)
	}
	r := res.Rejects[0]
	if r.Reason != tt.reason {
		t.Errorf("reason = %v, want %v (message %q)", r.Reason, tt.reason, r.Message)
	}
	if r.Field != tt.field {
		t.Errorf("field = %q, want %q", r.Field, tt.field)
	}
	if r.Index != tt.index {
		t.Errorf("index = %d, want %d", r.Index, tt.index)
	}
	if !strings.Contains(r.Message, tt.message) {
		t.Errorf("message = %q, want it to contain %q", r.Message, tt.message)
	}
}

func TestDecodeFixSizeLimits(t *testing.T) {
	small := Limits{MaxPayloadBytes: 64, MaxBatch: 2}
	fixPayload := fixObject(nil)

	t.Run("payload too large", func(t *testing.T) {
		payload := "[" + fixPayload + "," + fixPayload + "]"
		res := DecodeFix(testTerminal, []byte(payload), testReceived, small)
		assertReject(t, res, rejectCase{reason: ReasonPayloadTooLarge, index: -1,
			message: "payload of " + strconv.Itoa(len(payload)) + " bytes exceeds the maximum of 64 bytes"})
	})
	t.Run("default payload limit", func(t *testing.T) {
		payload := make([]byte, DefaultMaxPayloadBytes+1)
		res := DecodeFix(testTerminal, payload, testReceived, Limits{})
		assertReject(t, res, rejectCase{reason: ReasonPayloadTooLarge, index: -1, message: "maximum of 262144 bytes"})
	})
	t.Run("batch too large", func(t *testing.T) {
		payload := "[" + strings.Repeat(fixPayload+",", 2) + fixPayload + "]"
		res := DecodeFix(testTerminal, []byte(payload), testReceived, Limits{MaxBatch: 2})
		assertReject(t, res, rejectCase{reason: ReasonBatchTooLarge, index: -1, message: "batch of 3 fixes exceeds the maximum of 2"})
	})
	t.Run("default batch limit", func(t *testing.T) {
		payload := "[" + strings.Repeat(fixPayload+",", DefaultMaxBatch) + fixPayload + "]"
		res := DecodeFix(testTerminal, []byte(payload), testReceived, DefaultLimits())
		assertReject(t, res, rejectCase{reason: ReasonBatchTooLarge, index: -1, message: "batch of 1001 fixes exceeds the maximum of 1000"})
	})
	t.Run("batch at limit", func(t *testing.T) {
		payload := "[" + strings.Repeat(fixPayload+",", DefaultMaxBatch-1) + fixPayload + "]"
		res := DecodeFix(testTerminal, []byte(payload), testReceived, DefaultLimits())
		if len(res.Fixes) != DefaultMaxBatch || len(res.Rejects) != 0 {
			t.Errorf("got %d fixes and %d rejections, want %d and 0", len(res.Fixes), len(res.Rejects), DefaultMaxBatch)
		}
	})
	t.Run("deep nesting", func(t *testing.T) {
		payload := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
		res := DecodeFix(testTerminal, []byte(payload), testReceived, DefaultLimits())
		assertReject(t, res, rejectCase{reason: ReasonMalformedJSON, index: -1, message: "not valid JSON"})
	})
}

func TestDecodeFixMaxAge(t *testing.T) {
	lim := Limits{MaxAge: 30 * 24 * time.Hour}
	// A clock stuck in 2010 is no whole number of GPS week rollovers
	// back, so it is not corrected, and MinTime alone lets it through.
	wrapped := fixObject(map[string]string{"time": `"2010-04-21T01:30:05Z"`})

	res := DecodeFix(testTerminal, []byte(wrapped), testReceived, DefaultLimits())
	if len(res.Fixes) != 1 {
		t.Fatalf("without MaxAge got rejections %v, want the fix accepted", res.Rejects)
	}

	res = DecodeFix(testTerminal, []byte(wrapped), testReceived, lim)
	assertReject(t, res, rejectCase{reason: ReasonTooOld, field: "time", index: -1,
		message: "is more than 720h0m0s before the receive time"})

	recent := fixObject(map[string]string{"time": `"2026-11-20T00:00:00Z"`})
	res = DecodeFix(testTerminal, []byte(recent), testReceived, lim)
	if len(res.Fixes) != 1 {
		t.Errorf("fix 14 days old rejected with MaxAge 30 days: %v", res.Rejects)
	}
}

func TestDecodeFixCustomLimits(t *testing.T) {
	lim := Limits{MaxFutureSkew: time.Hour, MinTime: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}

	res := DecodeFix(testTerminal, []byte(fixObject(map[string]string{"time": `"2026-12-04T10:29:00+08:00"`})), testReceived, lim)
	if len(res.Fixes) != 1 {
		t.Errorf("fix 59 min ahead rejected with skew 1h: %v", res.Rejects)
	}

	res = DecodeFix(testTerminal, []byte(fixObject(map[string]string{"time": `"2019-12-31T23:59:59Z"`})), testReceived, lim)
	assertReject(t, res, rejectCase{reason: ReasonTooOld, field: "time", index: -1, message: "earliest accepted time 2020-01-01T00:00:00Z"})
}

func TestDecodeFixCRSConversion(t *testing.T) {
	// A Shanghai road vertex as AMap (GCJ-02) shows it, and the WGS-84
	// position a GNSS receiver reports on that road: about 480 m apart
	// without conversion.
	const gcjLat, gcjLon = 31.228458, 121.478223
	const roadLat, roadLon = 31.230400, 121.473700
	// A point 2 km from the centre of Yongkang, converted forward to BD-09.
	const yongkangLat, yongkangLon = 28.8908, 120.0425
	bdLat, bdLon := geofence.GCJ02ToBD09(geofence.WGS84ToGCJ02(yongkangLat, yongkangLon))

	tests := []struct {
		name             string
		crs              string
		lat, lon         float64
		wantLat, wantLon float64
		maxErrM          float64
	}{
		{"gcj02 road vertex", `"gcj02"`, gcjLat, gcjLon, roadLat, roadLon, 5},
		{"GCJ-02 spelling", `"GCJ-02"`, gcjLat, gcjLon, roadLat, roadLon, 5},
		{"bd09 round trip", `"bd09"`, bdLat, bdLon, yongkangLat, yongkangLon, 0.01},
		{"wgs84 unchanged", `"wgs84"`, roadLat, roadLon, roadLat, roadLon, 0},
		{"gcj02 outside china unchanged", `"gcj02"`, 48.8566, 2.3522, 48.8566, 2.3522, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fix := decodeOne(t, fixObject(map[string]string{
				"crs": tt.crs,
				"lat": strconv.FormatFloat(tt.lat, 'g', -1, 64),
				"lon": strconv.FormatFloat(tt.lon, 'g', -1, 64),
			}))
			if d := approxDistanceM(fix.Lat, fix.Lon, tt.wantLat, tt.wantLon); d > tt.maxErrM {
				t.Errorf("position %v,%v is %.3f m from %v,%v, want at most %v m", fix.Lat, fix.Lon, d, tt.wantLat, tt.wantLon, tt.maxErrM)
			}
		})
	}

	t.Run("unconverted is far off", func(t *testing.T) {
		if d := approxDistanceM(gcjLat, gcjLon, roadLat, roadLon); d < 400 {
			t.Errorf("GCJ-02 and WGS-84 points only %.0f m apart; the test data no longer shows the offset", d)
		}
	})
}

// approxDistanceM is the equirectangular distance in metres, accurate to
// well under 1 % over a few kilometres.
func approxDistanceM(lat1, lon1, lat2, lon2 float64) float64 {
	const earthRadiusM = 6371000.0
	rad := math.Pi / 180
	x := (lon2 - lon1) * rad * math.Cos((lat1+lat2)/2*rad)
	y := (lat2 - lat1) * rad
	return earthRadiusM * math.Hypot(x, y)
}

func TestDecodeFixBatchMixed(t *testing.T) {
	good := func(seq int) string {
		return fixObject(map[string]string{"seq": strconv.Itoa(seq), "source": `"batch"`})
	}
	payload := "[" + strings.Join([]string{
		good(1),
		fixObject(map[string]string{"seq": "2", "lat": "121.47", "lon": "31.23"}),
		`"not a fix"`,
		good(4),
		fixObject(map[string]string{"seq": "5", "time": `"2026-12-04T09:30:05"`, "speed": "-3"}),
		`{"time":1796347805000,"lat":28.1,"lon":120.1,"seq":6,"source":"blind"}`,
		`null`,
	}, ",") + "]"

	res := DecodeFix(testTerminal, []byte(payload), testReceived, DefaultLimits())

	var seqs []uint64
	for i := range res.Fixes {
		checkInvariants(t, &res.Fixes[i], testReceived, DefaultLimits())
		seqs = append(seqs, res.Fixes[i].Seq)
	}
	if want := []uint64{1, 4, 6}; !equalUint64s(seqs, want) {
		t.Errorf("accepted seqs %v, want %v", seqs, want)
	}
	if res.Fixes[2].Source != model.SourceBlind || res.Fixes[0].Source != model.SourceBatch {
		t.Errorf("sources %v and %v, want batch and blind", res.Fixes[0].Source, res.Fixes[2].Source)
	}

	type got struct {
		index  int
		field  string
		reason Reason
		seq    uint64
		hasSeq bool
	}
	// Fix 4 is rejected for its time; its speed, which alone would only
	// be dropped, is listed after that.
	want := []got{
		{1, "lat", ReasonOutOfRange, 2, true},
		{2, "", ReasonNotObject, 0, false},
		{4, "time", ReasonBadTime, 5, true},
		{4, "speed", ReasonOutOfRange, 5, true},
		{6, "", ReasonNotObject, 0, false},
	}
	if len(res.Rejects) != len(want) {
		t.Fatalf("got %d rejections %v, want %d", len(res.Rejects), res.Rejects, len(want))
	}
	for i, w := range want {
		r := res.Rejects[i]
		g := got{r.Index, r.Field, r.Reason, r.Seq, r.HasSeq}
		if g != w {
			t.Errorf("rejection %d = %+v, want %+v (%s)", i, g, w, r.Message)
		}
	}
}

func TestDecodeFixBatchBothTimeForms(t *testing.T) {
	payload := `[{"time":"2026-12-04T09:30:00+08:00","lat":28.89,"lon":120.04},
		{"time":1796347801000,"lat":28.891,"lon":120.041}]`
	res := DecodeFix(testTerminal, []byte(payload), testReceived, DefaultLimits())
	if len(res.Rejects) != 0 || len(res.Fixes) != 2 {
		t.Fatalf("got %d fixes, rejections %v; want 2 fixes", len(res.Fixes), res.Rejects)
	}
	assertTime(t, res.Fixes[0].Time, time.Date(2026, 12, 4, 1, 30, 0, 0, time.UTC))
	assertTime(t, res.Fixes[1].Time, time.UnixMilli(1796347801000).UTC())
}

func TestDecodeFixDoesNotRetainPayload(t *testing.T) {
	payload := []byte(fixObject(map[string]string{"source": `"blind"`, "time": `"2026-12-04T09:30:05+08:00"`}))
	res := DecodeFix(testTerminal, payload, testReceived, DefaultLimits())
	for i := range payload {
		payload[i] = 'x'
	}
	if len(res.Fixes) != 1 {
		t.Fatalf("rejected: %v", res.Rejects)
	}
	if res.Fixes[0].Source != model.SourceBlind || res.Fixes[0].Lat != 28.8908 {
		t.Errorf("fix changed after the payload was overwritten: %+v", res.Fixes[0])
	}
}

func equalUint64s(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkInvariants asserts what every accepted fix satisfies, whatever the
// input was.
func checkInvariants(t testing.TB, f *model.Fix, received time.Time, lim Limits) {
	t.Helper()
	lim = lim.withDefaults()

	finite := func(name string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("%s = %v is not finite", name, v)
		}
	}
	for _, v := range []struct {
		name string
		v    float64
	}{{"Lat", f.Lat}, {"Lon", f.Lon}, {"AltM", f.AltM}, {"SpeedKmh", f.SpeedKmh}, {"HeadingDeg", f.HeadingDeg},
		{"HDOP", f.HDOP}, {"AccuracyM", f.AccuracyM}, {"OdometerKm", f.OdometerKm}} {
		finite(v.name, v.v)
	}

	if f.Lat < -90 || f.Lat > 90 || f.Lon < -180 || f.Lon > 180 {
		t.Errorf("position %v,%v out of range", f.Lat, f.Lon)
	}
	if f.AltM < -500 || f.AltM > 9000 {
		t.Errorf("AltM %v out of range", f.AltM)
	}
	if f.SpeedKmh < 0 || f.SpeedKmh > 400 {
		t.Errorf("SpeedKmh %v out of range", f.SpeedKmh)
	}
	if f.HeadingDeg < 0 || f.HeadingDeg > 360 {
		t.Errorf("HeadingDeg %v out of range", f.HeadingDeg)
	}
	if f.Sats < 0 || f.Sats > 255 {
		t.Errorf("Sats %d out of range", f.Sats)
	}
	if f.HDOP < 0 || f.AccuracyM < 0 || f.OdometerKm < 0 {
		t.Errorf("negative HDOP %v, AccuracyM %v or OdometerKm %v", f.HDOP, f.AccuracyM, f.OdometerKm)
	}
	if f.Time.Location() != time.UTC || f.ReceivedAt.Location() != time.UTC {
		t.Errorf("times not in UTC: %v, %v", f.Time, f.ReceivedAt)
	}
	if f.Time.Before(lim.MinTime) || f.Time.After(received.Add(lim.MaxFutureSkew)) {
		t.Errorf("Time %v outside %v..%v", f.Time, lim.MinTime, received.Add(lim.MaxFutureSkew))
	}
	if !f.ReceivedAt.Equal(received) {
		t.Errorf("ReceivedAt %v, want %v", f.ReceivedAt, received)
	}
	if f.Source == model.SourceUnknown {
		t.Error("Source is unknown")
	}

	unset := []struct {
		bit  model.FieldSet
		zero bool
		name string
	}{
		{model.HasAlt, f.AltM == 0, "AltM"}, {model.HasSpeed, f.SpeedKmh == 0, "SpeedKmh"},
		{model.HasHeading, f.HeadingDeg == 0, "HeadingDeg"}, {model.HasSats, f.Sats == 0, "Sats"},
		{model.HasHDOP, f.HDOP == 0, "HDOP"}, {model.HasAccuracy, f.AccuracyM == 0, "AccuracyM"},
		{model.HasACC, !f.ACC, "ACC"}, {model.HasOdometer, f.OdometerKm == 0, "OdometerKm"},
		{model.HasAlarm, f.Alarm == 0, "Alarm"}, {model.HasStatus, f.Status == 0, "Status"},
		{model.HasSeq, f.Seq == 0, "Seq"},
	}
	for _, u := range unset {
		if f.Has&u.bit == 0 && !u.zero {
			t.Errorf("%s is set but its Has bit is not", u.name)
		}
	}
}

// TestDecodeFixDropsBadOptionalField feeds optional measurement fields that are of the wrong type or out
// of range: the fix is kept without that field, and the problem is listed
// in Dropped with its reason.
func TestDecodeFixDropsBadOptionalField(t *testing.T) {
	tests := []rejectCase{
		{"alt as string", fixObject(map[string]string{"alt": `"96"`}), ReasonWrongType, "alt", -1, "alt must be a number"},
		{"speed as string", fixObject(map[string]string{"speed": `"42"`}), ReasonWrongType, "speed", -1, "speed must be a number"},
		{"heading as string", fixObject(map[string]string{"heading": `"N"`}), ReasonWrongType, "heading", -1, "heading must be a number"},
		{"sats fractional", fixObject(map[string]string{"sats": `11.5`}), ReasonWrongType, "sats", -1, "sats 11.5 is not an integer"},
		{"sats as string", fixObject(map[string]string{"sats": `"11"`}), ReasonWrongType, "sats", -1, "sats must be an integer"},
		{"hdop as string", fixObject(map[string]string{"hdop": `"0.9"`}), ReasonWrongType, "hdop", -1, "hdop must be a number"},
		{"accuracy as bool", fixObject(map[string]string{"accuracy": `true`}), ReasonWrongType, "accuracy", -1, "accuracy must be a number"},
		{"odometer as string", fixObject(map[string]string{"odometer": `"1"`}), ReasonWrongType, "odometer", -1, "odometer must be a number"},
		{"alt low", fixObject(map[string]string{"alt": `-501`}), ReasonOutOfRange, "alt", -1, "alt -501 is outside -500..9000"},
		{"alt high", fixObject(map[string]string{"alt": `9000.5`}), ReasonOutOfRange, "alt", -1, "alt 9000.5 is outside -500..9000"},
		{"speed negative", fixObject(map[string]string{"speed": `-1`}), ReasonOutOfRange, "speed", -1, "speed -1 is outside 0..400"},
		{"speed high", fixObject(map[string]string{"speed": `401`}), ReasonOutOfRange, "speed", -1, "speed 401 is outside 0..400"},
		{"heading negative", fixObject(map[string]string{"heading": `-0.1`}), ReasonOutOfRange, "heading", -1, "heading -0.1 is outside 0..360"},
		{"heading high", fixObject(map[string]string{"heading": `360.5`}), ReasonOutOfRange, "heading", -1, "heading 360.5 is outside 0..360"},
		{"sats high", fixObject(map[string]string{"sats": `256`}), ReasonOutOfRange, "sats", -1, "sats 256 is outside 0..255"},
		{"sats negative", fixObject(map[string]string{"sats": `-1`}), ReasonOutOfRange, "sats", -1, "sats -1 is outside 0..255"},
		{"hdop negative", fixObject(map[string]string{"hdop": `-0.5`}), ReasonOutOfRange, "hdop", -1, "hdop -0.5 is below the minimum of 0"},
		{"accuracy negative", fixObject(map[string]string{"accuracy": `-3`}), ReasonOutOfRange, "accuracy", -1, "accuracy -3 is below the minimum of 0"},
		{"odometer negative", fixObject(map[string]string{"odometer": `-1`}), ReasonOutOfRange, "odometer", -1, "odometer -1 is outside 0..429496729.5"},
		{"speed overflow", fixObject(map[string]string{"speed": `-1e999`}), ReasonNotFinite, "speed", -1, "speed -1e999 is not a finite float64"},
		{"sats overflow", fixObject(map[string]string{"sats": `1e400`}), ReasonNotFinite, "sats", -1, "not a finite float64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := DecodeFix(testTerminal, []byte(tt.payload), testReceived, DefaultLimits())
			assertDropped(t, res, tt)
		})
	}
}

// assertDropped checks that res kept exactly one fix, without the field
// of tt, and listed that field in Dropped with the reason and message of
// tt.
func assertDropped(t *testing.T, res Result, tt rejectCase) {
	t.Helper()
	if len(res.Rejects) != 0 {
		t.Errorf("rejected %v, want the fix kept", res.Rejects)
	}
	if len(res.Fixes) != 1 {
		t.Fatalf("accepted %d fixes, want 1", len(res.Fixes))
	}
	if len(res.Dropped) != 1 {
		t.Fatalf("dropped %v, want one entry for %s", res.Dropped, tt.field)
	}
	d := res.Dropped[0]
	if d.Reason != tt.reason || d.Field != tt.field || d.Index != tt.index || !strings.Contains(d.Message, tt.message) {
		t.Errorf("dropped %s %s at %d %q, want %s %s at %d containing %q", d.Field, d.Reason, d.Index, d.Message, tt.field, tt.reason, tt.index, tt.message)
	}
	f := res.Fixes[0]
	has := map[string]model.FieldSet{
		"alt": model.HasAlt, "speed": model.HasSpeed, "heading": model.HasHeading, "sats": model.HasSats,
		"hdop": model.HasHDOP, "accuracy": model.HasAccuracy, "odometer": model.HasOdometer,
		"acc": model.HasAccuracy, "vel": model.HasSpeed, "cog": model.HasHeading,
	}[tt.field]
	if has == 0 {
		t.Fatalf("no presence bit known for %s", tt.field)
	}
	if f.Has&has != 0 {
		t.Errorf("fix still has %s", tt.field)
	}
	if f.AltM != 0 || f.SpeedKmh != 0 || f.HeadingDeg != 0 || f.Sats != 0 || f.HDOP != 0 || f.AccuracyM != 0 || f.OdometerKm != 0 {
		t.Errorf("fix keeps a dropped value: %+v", f)
	}
}
