package simulator

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hwtrack/hwtrack/model"
)

// nmeaSentence is one checksum-verified sentence split into fields;
// fields[0] is the address such as "GPGGA".
type nmeaSentence struct {
	fields []string
}

// splitSentence finds the sentence in line, verifies its checksum when it
// has one and splits it into fields.
func splitSentence(line string) (nmeaSentence, SkipReason) {
	start := strings.IndexByte(line, '$')
	if start < 0 {
		return nmeaSentence{}, SkipMalformed
	}
	body := line[start+1:]
	if star := strings.IndexByte(body, '*'); star >= 0 {
		want, err := strconv.ParseUint(strings.TrimSpace(body[star+1:]), 16, 8)
		if err != nil || len(strings.TrimSpace(body[star+1:])) != 2 {
			return nmeaSentence{}, SkipBadChecksum
		}
		body = body[:star]
		var sum byte
		for i := 0; i < len(body); i++ {
			sum ^= body[i]
		}
		if sum != byte(want) {
			return nmeaSentence{}, SkipBadChecksum
		}
	}
	// A '$' inside the body is a sentence cut short by the next one.
	if strings.ContainsAny(body, "$!") {
		return nmeaSentence{}, SkipMalformed
	}
	fields := strings.Split(body, ",")
	if len(fields[0]) < 3 {
		return nmeaSentence{}, SkipMalformed
	}
	return nmeaSentence{fields: fields}, SkipUnknown
}

// kind returns the sentence formatter ("GGA", "RMC", ...) or "" for a
// proprietary sentence.
func (s nmeaSentence) kind() string {
	addr := s.fields[0]
	if addr[0] == 'P' || len(addr) != 5 {
		return ""
	}
	return addr[2:]
}

func (s nmeaSentence) field(i int) string {
	if i < len(s.fields) {
		return strings.TrimSpace(s.fields[i])
	}
	return ""
}

// apply merges the sentence into the epoch list and returns the list and
// the reason the sentence was not used, if it was not.
func (s nmeaSentence) apply(epochs []*nmeaEpoch, line int) ([]*nmeaEpoch, SkipReason) {
	switch s.kind() {
	case "GGA":
		return s.applyGGA(epochs, line)
	case "RMC":
		return s.applyRMC(epochs, line)
	case "ZDA":
		return s.applyZDA(epochs, line)
	default:
		return epochs, SkipUnusedSentence
	}
}

// epochFor returns the epoch for todMs: the last one when it has the same
// time of day, else a new one appended to the list.
func epochFor(epochs []*nmeaEpoch, todMs int64, line int) ([]*nmeaEpoch, *nmeaEpoch) {
	if n := len(epochs); n > 0 && !epochs[n-1].dateOnly && epochs[n-1].todMs == todMs {
		return epochs, epochs[n-1]
	}
	e := &nmeaEpoch{line: line, todMs: todMs, ggaQuality: -1}
	return append(epochs, e), e
}

func (s nmeaSentence) applyGGA(epochs []*nmeaEpoch, line int) ([]*nmeaEpoch, SkipReason) {
	if s.field(1) == "" {
		return epochs, SkipNoTime
	}
	tod, err := parseNMEATime(s.field(1))
	if err != nil {
		return epochs, SkipMalformed
	}
	lat, lon, posSet, err := parseNMEAPosition(s.field(2), s.field(3), s.field(4), s.field(5))
	if err != nil {
		return epochs, SkipMalformed
	}
	quality := -1
	if q := s.field(6); q != "" {
		if quality, err = strconv.Atoi(q); err != nil || quality < 0 {
			return epochs, SkipMalformed
		}
	}
	var sats int
	satsSet := s.field(7) != ""
	if satsSet {
		if sats, err = strconv.Atoi(s.field(7)); err != nil || sats < 0 {
			return epochs, SkipMalformed
		}
	}
	hdop, hdopSet, err := optionalFloat(s.field(8))
	if err != nil {
		return epochs, SkipMalformed
	}
	alt, altSet, err := optionalFloat(s.field(9))
	if err != nil {
		return epochs, SkipMalformed
	}

	epochs, e := epochFor(epochs, tod, line)
	if posSet {
		// GGA positions take precedence: they come with altitude and
		// quality, and RMC repeats them at the same precision or less.
		e.lat, e.lon, e.posSet = lat, lon, true
	}
	e.ggaQuality = quality
	if satsSet {
		e.fix.Sats = sats
		e.fix.Has |= model.HasSats
	}
	if hdopSet {
		e.fix.HDOP = hdop
		e.fix.Has |= model.HasHDOP
	}
	if altSet {
		e.fix.AltM = alt
		e.fix.Has |= model.HasAlt
	}
	return epochs, SkipUnknown
}

func (s nmeaSentence) applyRMC(epochs []*nmeaEpoch, line int) ([]*nmeaEpoch, SkipReason) {
	if s.field(1) == "" {
		return epochs, SkipNoTime
	}
	tod, err := parseNMEATime(s.field(1))
	if err != nil {
		return epochs, SkipMalformed
	}
	status := s.field(2)
	if status != "A" && status != "V" {
		return epochs, SkipMalformed
	}
	lat, lon, posSet, err := parseNMEAPosition(s.field(3), s.field(4), s.field(5), s.field(6))
	if err != nil {
		return epochs, SkipMalformed
	}
	speedKn, speedSet, err := optionalFloat(s.field(7))
	if err != nil || speedKn < 0 {
		return epochs, SkipMalformed
	}
	course, courseSet, err := optionalFloat(s.field(8))
	if err != nil {
		return epochs, SkipMalformed
	}
	var date time.Time
	dateSet := s.field(9) != ""
	if dateSet {
		if date, err = parseNMEADate(s.field(9)); err != nil {
			return epochs, SkipMalformed
		}
	}

	epochs, e := epochFor(epochs, tod, line)
	if posSet && !e.posSet {
		e.lat, e.lon, e.posSet = lat, lon, true
	}
	e.rmcStatus = status[0]
	if dateSet {
		e.date, e.dated = date, true
	}
	if speedSet {
		e.fix.SpeedKmh = speedKn * knotsToKmh
		e.fix.Has |= model.HasSpeed
	}
	if courseSet {
		e.fix.HeadingDeg = course
		e.fix.Has |= model.HasHeading
	}
	return epochs, SkipUnknown
}

func (s nmeaSentence) applyZDA(epochs []*nmeaEpoch, line int) ([]*nmeaEpoch, SkipReason) {
	if s.field(1) == "" || s.field(2) == "" {
		return epochs, SkipNoTime
	}
	tod, err := parseNMEATime(s.field(1))
	if err != nil {
		return epochs, SkipMalformed
	}
	day, errD := strconv.Atoi(s.field(2))
	month, errM := strconv.Atoi(s.field(3))
	year, errY := strconv.Atoi(s.field(4))
	if errD != nil || errM != nil || errY != nil || !validDate(year, month, day) {
		return epochs, SkipMalformed
	}
	date := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	return append(epochs, &nmeaEpoch{line: line, todMs: tod, date: date, dated: true, dateOnly: true, ggaQuality: -1}), SkipUnknown
}

// parseNMEATime parses hhmmss with an optional fraction into milliseconds
// since midnight.
func parseNMEATime(s string) (int64, error) {
	if len(s) < 6 {
		return 0, fmt.Errorf("short time %q", s)
	}
	h, err1 := strconv.Atoi(s[0:2])
	m, err2 := strconv.Atoi(s[2:4])
	sec, err3 := strconv.ParseFloat(s[4:], 64)
	if err1 != nil || err2 != nil || err3 != nil || h > 23 || m > 59 || sec < 0 || sec >= 61 || s[4] == '-' || s[4] == '+' {
		return 0, fmt.Errorf("invalid time %q", s)
	}
	ms := int64(math.Round(sec * 1000))
	return int64(h)*3600_000 + int64(m)*60_000 + ms, nil
}

// parseNMEADate parses ddmmyy; two-digit years below 80 are 20yy.
func parseNMEADate(s string) (time.Time, error) {
	if len(s) != 6 {
		return time.Time{}, fmt.Errorf("invalid date %q", s)
	}
	d, err1 := strconv.Atoi(s[0:2])
	m, err2 := strconv.Atoi(s[2:4])
	y, err3 := strconv.Atoi(s[4:6])
	if err1 != nil || err2 != nil || err3 != nil || strings.ContainsAny(s, "+-") {
		return time.Time{}, fmt.Errorf("invalid date %q", s)
	}
	if y < 80 {
		y += 2000
	} else {
		y += 1900
	}
	if !validDate(y, m, d) {
		return time.Time{}, fmt.Errorf("invalid date %q", s)
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), nil
}

func validDate(y, m, d int) bool {
	if y < 1980 || y > 2200 || m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseNMEAPosition parses ddmm.mmmm,N,dddmm.mmmm,E. All four fields
// empty means no position, which is not an error.
func parseNMEAPosition(latText, ns, lonText, ew string) (lat, lon float64, ok bool, err error) {
	if latText == "" && lonText == "" {
		return 0, 0, false, nil
	}
	if lat, err = parseNMEAAngle(latText, 90); err != nil {
		return 0, 0, false, err
	}
	if lon, err = parseNMEAAngle(lonText, 180); err != nil {
		return 0, 0, false, err
	}
	switch ns {
	case "N":
	case "S":
		lat = -lat
	default:
		return 0, 0, false, fmt.Errorf("invalid hemisphere %q", ns)
	}
	switch ew {
	case "E":
	case "W":
		lon = -lon
	default:
		return 0, 0, false, fmt.Errorf("invalid hemisphere %q", ew)
	}
	return lat, lon, true, nil
}

func parseNMEAAngle(s string, maxDeg float64) (float64, error) {
	v, err := parseFinite(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid angle %q", s)
	}
	deg := math.Floor(v / 100)
	minutes := v - deg*100
	if minutes >= 60 || deg+minutes/60 > maxDeg {
		return 0, fmt.Errorf("angle %q out of range", s)
	}
	return deg + minutes/60, nil
}

func optionalFloat(s string) (float64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	v, err := parseFinite(s)
	return v, err == nil, err
}

// utf16ToUTF8 decodes UTF-16 code units; unpaired surrogates become
// U+FFFD as in unicode/utf16.
func utf16ToUTF8(b []byte, bigEndian bool) ([]byte, error) {
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("invalid UTF-16 text: odd length %d", len(b))
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		if bigEndian {
			units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			units[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
	}
	runes := utf16.Decode(units)
	out := make([]byte, 0, len(runes))
	for _, r := range runes {
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}
