package simulator

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

const (
	knotsToKmh = 1.852
	dayMs      = 24 * 3600 * 1000
	// rolloverMs is how far back the time of day must jump between two
	// epochs to count as passing midnight rather than a receiver glitch.
	rolloverMs = 12 * 3600 * 1000
)

// nmeaEpoch gathers the sentences of one receiver epoch: GGA and RMC
// sentences with the same time of day are merged. A ZDA sentence becomes
// an epoch of its own that only carries a date.
type nmeaEpoch struct {
	line  int   // first line of the epoch, for diagnostics
	todMs int64 // milliseconds since midnight UTC
	date  time.Time
	dated bool

	posSet   bool
	lat, lon float64

	rmcStatus  byte // 'A', 'V', or 0 when no RMC was seen
	ggaQuality int  // -1 when no GGA or an empty quality field was seen

	fix      model.Fix // optional fields with their Has bits
	dateOnly bool
}

// ReadNMEA reads an NMEA 0183 log. GGA and RMC sentences of one epoch are
// merged into one fix; RMC and ZDA supply the date, and epochs before the
// first date are back-filled from the next one, with midnight rollover in
// both directions. Sentences with a wrong checksum are dropped and
// counted; sentences without a checksum are accepted, because some
// receivers never send one. Lines starting with '#' are comments. A file
// starting with a UTF-16 byte order mark is decoded first.
//
// An epoch is Valid unless RMC reports status V (void) or GGA reports
// quality 0.
// Epochs without a position, or with no date anywhere in the file, are
// skipped and counted.
func ReadNMEA(path string) ([]model.Fix, ReadStats, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ReadStats{}, fmt.Errorf("read nmea: %w", err)
	}
	return DecodeNMEA(path, data)
}

// DecodeNMEA is ReadNMEA on bytes already in memory; name is used in
// errors.
func DecodeNMEA(name string, data []byte) ([]model.Fix, ReadStats, error) {
	var stats ReadStats
	text, err := decodeText(data)
	if err != nil {
		return nil, stats, &ParseError{Path: name, Err: err}
	}

	var epochs []*nmeaEpoch
	lineNo := 0
	for len(text) > 0 {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			raw, text = text[:i], text[i+1:]
		} else {
			raw, text = text, nil
		}
		line := strings.TrimSpace(string(raw))
		if line == "" || line[0] == '#' {
			continue
		}
		stats.Lines++

		s, reason := splitSentence(line)
		if reason != SkipUnknown {
			stats.skip(reason)
			continue
		}
		epochs, reason = s.apply(epochs, lineNo)
		if reason != SkipUnknown {
			stats.skip(reason)
		}
	}

	assignDates(epochs)

	var fixes []model.Fix
	for _, e := range epochs {
		switch {
		case e.dateOnly:
			continue
		case !e.posSet:
			stats.skip(SkipNoPosition)
			continue
		case !e.dated:
			stats.skip(SkipNoTime)
			continue
		}
		f := e.fix
		f.Lat, f.Lon = e.lat, e.lon
		f.Time = e.date.Add(time.Duration(e.todMs) * time.Millisecond)
		f.Valid = e.valid()
		fixes = append(fixes, f)
	}
	return finish(name, fixes, stats)
}

func (e *nmeaEpoch) valid() bool {
	if e.rmcStatus == 0 && e.ggaQuality < 0 {
		return false
	}
	if e.rmcStatus == 'V' || e.ggaQuality == 0 {
		return false
	}
	return true
}

// assignDates gives every epoch without its own date the date of the
// nearest dated epoch before it, or failing that after it, moving one
// day across midnight when the time of day jumps by more than 12 hours.
func assignDates(epochs []*nmeaEpoch) {
	first := -1
	var date time.Time
	var tod int64
	for i, e := range epochs {
		if e.dated {
			if first < 0 {
				first = i
			}
			date, tod = e.date, e.todMs
			continue
		}
		if first < 0 {
			continue
		}
		if e.todMs < tod && tod-e.todMs > rolloverMs {
			date = date.AddDate(0, 0, 1)
		}
		e.date, e.dated = date, true
		tod = e.todMs
	}
	if first <= 0 {
		return
	}

	date, tod = epochs[first].date, epochs[first].todMs
	for i := first - 1; i >= 0; i-- {
		e := epochs[i]
		if e.todMs > tod && e.todMs-tod > rolloverMs {
			date = date.AddDate(0, 0, -1)
		}
		e.date, e.dated = date, true
		tod = e.todMs
	}
}

// decodeText converts UTF-16 input with a byte order mark to UTF-8 and
// strips a UTF-8 byte order mark. Other input is returned unchanged.
func decodeText(data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:], nil
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		return utf16ToUTF8(data[2:], false)
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return utf16ToUTF8(data[2:], true)
	}
	return data, nil
}
