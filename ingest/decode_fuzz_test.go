package ingest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

var fuzzFixSeeds = []string{
	`{"time":"2026-12-04T09:30:05+08:00","lat":28.8908,"lon":120.0425,"alt":96,"speed":42.5,"heading":270,"valid":true,"sats":11,"hdop":0.9,"accuracy":5,"acc":true,"odometer":12345.6,"alarm":0,"status":3,"source":"realtime","seq":4711}`,
	`[{"time":1796347805000,"lat":28.1,"lon":120.1,"source":"blind"},{"time":"2026-12-04T01:30:00Z","lat":121.47,"lon":31.2}]`,
	`{"time":1796347805,"lat":"NaN","lon":1e400,"crs":"gcj02"}`,
	`{"time":"1999-08-22T00:00:00Z","lat":0,"lon":0,"valid":false,"sats":1.5,"seq":-1}`,
	`[]`,
	`[1,null,{}]`,
	`{"lat":1,"lat":2}`,
	`{"time":"2026-12-04T09:30:05"}`,
	`nan`,
}

func FuzzDecodeFix(f *testing.F) {
	for _, s := range fuzzFixSeeds {
		f.Add([]byte(s))
	}
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, payload []byte) {
		res := DecodeFix(testTerminal, payload, testReceived, lim)
		for i := range res.Fixes {
			checkInvariants(t, &res.Fixes[i], testReceived, lim)
		}
		checkRejects(t, res, payload)
	})
}

func FuzzDecodeOwnTracks(f *testing.F) {
	for _, s := range []string{
		`{"_type":"location","lat":48.856826,"lon":2.292713,"tst":1706858149,"acc":12,"alt":154,"vel":61,"cog":271}`,
		`{"_type":"location","lat":48.85,"lon":2.29,"tst":"1706858149","vel":-1,"cog":-1}`,
		`{"_type":"location","lat":48.85,"lon":2.29}`,
		`{"_type":"lwt","tst":"1440363922"}`,
		`{"_type":"transition","event":"enter","lat":48.87,"lon":2.35}`,
		`{"count":1,"data":[{"_type":"location"}]}`,
		`{"_type":"location","lat":121,"lon":31,"tst":1706858149000}`,
	} {
		f.Add([]byte(s))
	}
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, payload []byte) {
		res := DecodeOwnTracks(testTerminal, payload, otReceived, lim)
		if len(res.Fixes) > 1 {
			t.Fatalf("got %d fixes from one OwnTracks message", len(res.Fixes))
		}
		for i := range res.Fixes {
			checkInvariants(t, &res.Fixes[i], otReceived, lim)
		}
		if res.Ignored != "" && (len(res.Fixes) != 0 || len(res.Rejects) != 0) {
			t.Errorf("Ignored %q together with fixes or rejections", res.Ignored)
		}
		if res.Ignored != "" && res.Ignored != ownTracksOther && ownTracksTypes[res.Ignored] == "" {
			t.Errorf("Ignored %q is neither a known type nor %q", res.Ignored, ownTracksOther)
		}
		checkRejects(t, res, payload)
	})
}

// checkRejects asserts what holds for every rejection and for the reply
// built from them.
func checkRejects(t *testing.T, res Result, payload []byte) {
	t.Helper()
	if len(res.Fixes) == 0 && len(res.Rejects) == 0 && res.Ignored == "" {
		t.Fatalf("payload %q neither accepted, rejected nor ignored", payload)
	}
	for _, r := range append(slices.Clone(res.Rejects), res.Dropped...) {
		if r.Reason == ReasonUnknown || r.Reason >= reasonCount {
			t.Errorf("problem with reason %d: %v", r.Reason, r)
		}
		if r.Message == "" {
			t.Errorf("problem without message: %+v", r)
		}
		if r.Index < -1 {
			t.Errorf("problem index %d", r.Index)
		}
	}
	if len(res.Dropped) > 0 && len(res.Fixes) == 0 {
		t.Errorf("fields dropped %v from no accepted fix", res.Dropped)
	}
	if out := ReplyPayload(res.Rejects, res.Dropped); !json.Valid(out) {
		t.Errorf("ReplyPayload is not valid JSON: %q", out)
	}
}

// TestFuzzSeedsTerminate runs the seeds with a receive time far in the
// past and future, where time bounds are crossed differently.
func TestFuzzSeedsTerminate(t *testing.T) {
	for _, received := range []time.Time{time.Unix(0, 0).UTC(), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)} {
		for _, s := range fuzzFixSeeds {
			res := DecodeFix(testTerminal, []byte(s), received, DefaultLimits())
			for i := range res.Fixes {
				checkInvariants(t, &res.Fixes[i], received, DefaultLimits())
			}
			checkRejects(t, res, []byte(s))
		}
	}
}
