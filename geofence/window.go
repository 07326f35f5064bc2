package geofence

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// chinaStandardTime is Asia/Shanghai. China has used UTC+8 without
// daylight saving since 1991, so a fixed zone is exact for fix times and
// does not depend on the host's tzdata.
var chinaStandardTime = time.FixedZone("CST", 8*3600)

// Window is a daily time window in Asia/Shanghai local time. The zero
// Window is "always". A window whose start is after its end wraps midnight,
// so 22:00-06:00 covers the night.
type Window struct {
	set      bool
	startMin int // minutes after local midnight, inclusive
	endMin   int // minutes after local midnight, exclusive; 1440 is midnight
}

// ParseWindow parses "HH:MM-HH:MM". The end may be 24:00. Start and end
// must differ: an always-on zone simply has no window.
func ParseWindow(s string) (Window, error) {
	startText, endText, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Window{}, fmt.Errorf("invalid window %q: expected HH:MM-HH:MM in Asia/Shanghai time, e.g. 06:00-22:00", s)
	}
	start, err := parseClock(strings.TrimSpace(startText), false)
	if err != nil {
		return Window{}, fmt.Errorf("invalid window %q: start: %w; expected HH:MM-HH:MM", s, err)
	}
	end, err := parseClock(strings.TrimSpace(endText), true)
	if err != nil {
		return Window{}, fmt.Errorf("invalid window %q: end: %w; expected HH:MM-HH:MM", s, err)
	}
	if start == end || (start == 0 && end == 1440) {
		return Window{}, fmt.Errorf("invalid window %q: it covers the whole day or nothing; omit window for an always-on zone", s)
	}
	return Window{set: true, startMin: start, endMin: end}, nil
}

func parseClock(s string, allowMidnightEnd bool) (int, error) {
	hText, mText, ok := strings.Cut(s, ":")
	if !ok || len(hText) != 2 || len(mText) != 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	h, errH := strconv.Atoi(hText)
	m, errM := strconv.Atoi(mText)
	if errH != nil || errM != nil || h < 0 || m < 0 || m > 59 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	if h == 24 && m == 0 && allowMidnightEnd {
		return 1440, nil
	}
	if h > 23 {
		return 0, fmt.Errorf("hour in %q is out of range 00-23", s)
	}
	return h*60 + m, nil
}

// IsSet reports whether the window restricts the zone to part of the day.
func (w Window) IsSet() bool { return w.set }

// Contains reports whether t falls inside the window. The start minute is
// inside and the end minute outside. An unset window contains every time.
func (w Window) Contains(t time.Time) bool {
	if !w.set {
		return true
	}
	local := t.In(chinaStandardTime)
	minute := local.Hour()*60 + local.Minute()
	if w.startMin < w.endMin {
		return minute >= w.startMin && minute < w.endMin
	}
	return minute >= w.startMin || minute < w.endMin
}

// String returns the window as "HH:MM-HH:MM", or "" when unset.
func (w Window) String() string {
	if !w.set {
		return ""
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.startMin/60, w.startMin%60, w.endMin/60, w.endMin%60)
}
