package geofence

import (
	"testing"
	"time"
)

func TestParseWindow(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"06:00-22:00", "06:00-22:00", false},
		{"22:00-06:00", "22:00-06:00", false},
		{" 07:30 - 24:00 ", "07:30-24:00", false},
		{"06:00", "", true},
		{"6:00-22:00", "", true},
		{"06:00-25:00", "", true},
		{"06:60-22:00", "", true},
		{"08:00-08:00", "", true},
		{"00:00-24:00", "", true},
		{"24:00-06:00", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			w, err := ParseWindow(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseWindow(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if w.String() != tc.want {
				t.Errorf("ParseWindow(%q).String() = %q, want %q", tc.in, w.String(), tc.want)
			}
		})
	}
}

func TestWindowContains(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	day := func(h, m int) time.Time { return time.Date(2026, 12, 4, h, m, 0, 0, cst) }
	cases := []struct {
		name   string
		window string
		at     time.Time
		want   bool
	}{
		{"day window inside", "06:00-22:00", day(12, 0), true},
		{"day window start inclusive", "06:00-22:00", day(6, 0), true},
		{"day window end exclusive", "06:00-22:00", day(22, 0), false},
		{"day window before", "06:00-22:00", day(5, 59), false},
		{"night window late evening", "22:00-06:00", day(23, 30), true},
		{"night window early morning", "22:00-06:00", day(3, 0), true},
		{"night window noon", "22:00-06:00", day(12, 0), false},
		// 02:00 UTC is 10:00 in Shanghai: the window is in local time.
		{"utc input converted", "08:00-12:00", time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC), true},
		{"utc input outside", "08:00-12:00", time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := ParseWindow(tc.window)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.Contains(tc.at); got != tc.want {
				t.Errorf("%s.Contains(%v) = %v, want %v", tc.window, tc.at, got, tc.want)
			}
		})
	}

	t.Run("unset window always contains", func(t *testing.T) {
		if !(Window{}).Contains(day(3, 0)) {
			t.Error("zero Window.Contains = false, want true")
		}
	})
}
