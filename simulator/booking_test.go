package simulator

import (
	"regexp"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func TestCreditCodeCheckCharacters(t *testing.T) {
	cases := []struct {
		name string
		got  string
		want string
	}{
		// A published code: 91440300192203821 6, organisation 19220382-1.
		{"credit check of a published code", creditCheck("91440300192203821"), "6"},
		{"organisation check of a published code", orgCheck("19220382"), "1"},
		// 3*4 = 12 leaves 1 mod 11, so the check value is 10.
		{"organisation check of 10 becomes X", orgCheck("00000030"), "X"},
		{"organisation check of 11 becomes 0", orgCheck("00000000"), "0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("check = %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestSampleBooking(t *testing.T) {
	start := model.Fix{Lat: 28.8908, Lon: 120.0425, Time: time.Now()}
	b := sampleBooking(start, 2026, 1234, "永康市东城五金制品有限公司")
	if !regexp.MustCompile(`^20263307001234$`).MatchString(b.ManifestNo) || len(b.ManifestNo) != 14 {
		t.Errorf("manifest number = %q, want 20263307001234", b.ManifestNo)
	}
	code := b.Shipper.CreditCode
	if len(code) != 18 || code[:8] != "91330784" {
		t.Errorf("credit code = %q, want 18 characters starting 91330784", code)
	}
	if code[17:] != creditCheck(code[:17]) {
		t.Errorf("credit code %q has a wrong check character", code)
	}
	if b.Shipper.Lat != start.Lat || b.Shipper.Lon != start.Lon {
		t.Errorf("shipper at %v,%v, want the track start", b.Shipper.Lat, b.Shipper.Lon)
	}
	codes := map[string]bool{}
	for _, w := range b.Wastes {
		codes[w.Code] = true
		if w.Count <= 0 || w.WeightKg <= 0 || w.Form == "" || w.Hazard == "" || w.Packaging == "" {
			t.Errorf("waste %+v has an empty field", w)
		}
	}
	if !codes["900-041-49"] || !codes["900-249-08"] {
		t.Errorf("waste codes = %v, want 900-041-49 and 900-249-08", codes)
	}
}

func TestRandomPassword(t *testing.T) {
	a, err := randomPassword(32)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	b, err := randomPassword(32)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if len(a) != 32 || !regexp.MustCompile(`^[A-Za-z0-9]+$`).MatchString(a) {
		t.Errorf("password %q, want 32 letters and digits", a)
	}
	if a == b {
		t.Error("two passwords are equal")
	}
}

func TestTerminalIDs(t *testing.T) {
	got := terminalIDs([]string{"/a/008/2008 10.plt", "/b/008/2008 10.plt", "/c/轨迹.gpx", "x/dg100.gpx"}, "r1")
	want := []string{"2008_10-r1", "2008_10-r1-2", "track-r1", "dg100-r1"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("terminal %d = %q, want %q", i, got[i], want[i])
		}
	}
}
