package ingest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDecodeFixCorrectsGPSWeekRollover(t *testing.T) {
	// The unit read its fix 5 s before the receive time, but its clock
	// reports that instant k×1024 weeks early.
	actual := testReceived.Add(-5 * time.Second)
	back := func(k int, extra time.Duration) time.Time {
		return actual.Add(-time.Duration(k)*gpsWeekRollover - extra)
	}
	rfc := func(t time.Time) string { return `"` + t.Format(time.RFC3339) + `"` }
	millis := func(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }

	cases := []struct {
		name    string
		time    string
		limits  Limits
		want    time.Time
		wantFix bool
		// corrected is the number of rollovers reported in Dropped, 0
		// for none.
		corrected  int
		wantReason Reason
	}{
		{"one rollover as RFC 3339", rfc(back(1, 0)), DefaultLimits(), actual, true, 1, 0},
		{"one rollover as milliseconds", millis(back(1, 0)), DefaultLimits(), actual, true, 1, 0},
		{"one rollover with fractional milliseconds", millis(back(1, 0)) + ".5", DefaultLimits(), actual.Add(500 * time.Microsecond), true, 1, 0},
		{"two rollovers before MinTime", millis(back(2, 0)), DefaultLimits(), actual, true, 2, 0},
		{"one rollover sent 20 hours late", rfc(back(1, 20*time.Hour)), DefaultLimits(), actual.Add(-20 * time.Hour), true, 1, 0},
		{"one rollover passes MaxAge", rfc(back(1, 0)), Limits{MaxAge: time.Hour}, actual, true, 1, 0},
		{"two days off a rollover", rfc(back(1, 48*time.Hour)), DefaultLimits(), back(1, 48*time.Hour), true, 0, 0},
		{"two days off two rollovers", rfc(back(2, 48*time.Hour)), DefaultLimits(), time.Time{}, false, 0, ReasonTooOld},
		{"three rollovers", rfc(back(3, 0)), DefaultLimits(), time.Time{}, false, 0, ReasonTooOld},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := DecodeFix(testTerminal, []byte(fixObject(map[string]string{"time": tc.time})), testReceived, tc.limits)
			if !tc.wantFix {
				if len(res.Fixes) != 0 || len(res.Rejects) != 1 || res.Rejects[0].Reason != tc.wantReason {
					t.Fatalf("fixes %v rejects %v, want one %v rejection", res.Fixes, res.Rejects, tc.wantReason)
				}
				return
			}
			if len(res.Fixes) != 1 {
				t.Fatalf("rejected: %v", res.Rejects)
			}
			if got := res.Fixes[0].Time; !got.Equal(tc.want) {
				t.Errorf("fix time = %s, want %s", got.Format(time.RFC3339Nano), tc.want.Format(time.RFC3339Nano))
			}
			if tc.corrected == 0 {
				if len(res.Dropped) != 0 {
					t.Errorf("dropped = %v, want nothing", res.Dropped)
				}
				return
			}
			if len(res.Dropped) != 1 {
				t.Fatalf("dropped = %v, want one time correction", res.Dropped)
			}
			d := res.Dropped[0]
			if d.Reason != ReasonTimeCorrected || d.Reason.String() != "time_corrected" || d.Field != "time" {
				t.Errorf("dropped = %s %s, want time_corrected on time", d.Reason, d.Field)
			}
			wantText := fmt.Sprintf("is %d×1024 GPS weeks before the receive time", tc.corrected)
			if !strings.Contains(d.Message, wantText) || !strings.Contains(d.Message, "corrected to "+formatTime(tc.want)[:19]) {
				t.Errorf("message %q does not name the rollover count and the corrected time %s", d.Message, formatTime(tc.want))
			}
		})
	}
}

func TestDecodeFixRolloverNotARejectReason(t *testing.T) {
	wrapped := testReceived.Add(-gpsWeekRollover).Format(time.RFC3339)
	res := DecodeFix(testTerminal, []byte(fixObject(map[string]string{"time": `"` + wrapped + `"`, "lat": "95"})), testReceived, DefaultLimits())
	if len(res.Fixes) != 0 || len(res.Dropped) != 0 {
		t.Fatalf("fixes %v dropped %v, want the fix rejected", res.Fixes, res.Dropped)
	}
	for _, r := range res.Rejects {
		if r.Reason == ReasonTimeCorrected {
			t.Errorf("rejection lists the time correction: %v", res.Rejects)
		}
	}
	if len(res.Rejects) != 1 || res.Rejects[0].Field != "lat" {
		t.Errorf("rejects = %v, want one on lat", res.Rejects)
	}
}

func TestDecodeOwnTracksCorrectsGPSWeekRollover(t *testing.T) {
	actual := testReceived.Add(-5 * time.Second)
	for _, tst := range []string{
		fmt.Sprint(actual.Add(-gpsWeekRollover).Unix()),
		fmt.Sprintf(`"%d"`, actual.Add(-2*gpsWeekRollover).Unix()),
	} {
		payload := `{"_type":"location","lat":28.8908,"lon":120.0425,"tst":` + tst + `}`
		res := DecodeOwnTracks(testTerminal, []byte(payload), testReceived, DefaultLimits())
		if len(res.Fixes) != 1 {
			t.Fatalf("tst %s rejected: %v", tst, res.Rejects)
		}
		if !res.Fixes[0].Time.Equal(actual) {
			t.Errorf("tst %s: fix time = %s, want %s", tst, res.Fixes[0].Time, actual)
		}
		if len(res.Dropped) != 1 || res.Dropped[0].Reason != ReasonTimeCorrected || res.Dropped[0].Field != "tst" {
			t.Errorf("tst %s: dropped = %v, want one time_corrected on tst", tst, res.Dropped)
		}
	}
}
