package simulator

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinel errors wrapped in a ParseError; callers branch on them with
// errors.Is.
var (
	// ErrNoFixes means a file was read without error but held no fix.
	ErrNoFixes = errors.New("no fixes found")
	// ErrUnknownFormat means ReadTrack could not tell the file format
	// from the extension or the first bytes.
	ErrUnknownFormat = errors.New("unknown track format")
)

// ParseError is malformed input in a track file. Line is 1-based; it is
// zero when the problem is not tied to one line (for example an empty
// file).
type ParseError struct {
	Path string
	Line int
	Err  error
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

func parseErrorf(path string, line int, format string, args ...any) *ParseError {
	return &ParseError{Path: path, Line: line, Err: fmt.Errorf(format, args...)}
}

// SkipReason is the reason a reader dropped an input record.
type SkipReason uint8

const (
	SkipUnknown SkipReason = iota
	// SkipBadChecksum is an NMEA sentence whose checksum does not match.
	SkipBadChecksum
	// SkipMalformed is a record with a field that does not parse.
	SkipMalformed
	// SkipNoPosition is a record or NMEA epoch without latitude and longitude.
	SkipNoPosition
	// SkipNoTime is a fix without a usable time or date.
	SkipNoTime
	// SkipNotLocation is an OwnTracks payload of another _type (lwt,
	// transition, ...).
	SkipNotLocation
	// SkipUnusedSentence is a well-formed NMEA sentence that carries no
	// position, such as GSV or VTG, or a proprietary one.
	SkipUnusedSentence
	// SkipInvalidAltitude is a GeoLife altitude of -777 (the data set's
	// "no value" marker); the fix is kept without altitude.
	SkipInvalidAltitude
)

var skipReasonNames = [...]string{
	SkipUnknown:         "unknown",
	SkipBadChecksum:     "bad_checksum",
	SkipMalformed:       "malformed",
	SkipNoPosition:      "no_position",
	SkipNoTime:          "no_time",
	SkipNotLocation:     "not_location",
	SkipUnusedSentence:  "unused_sentence",
	SkipInvalidAltitude: "invalid_altitude",
}

func (r SkipReason) String() string {
	if int(r) < len(skipReasonNames) {
		return skipReasonNames[r]
	}
	return "unknown"
}

// MarshalText lets ReadStats.Skipped encode as a JSON object keyed by
// reason name.
func (r SkipReason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// ReadStats counts what a reader saw. Skipped counts dropped records by
// reason; SkipInvalidAltitude counts fixes kept without their altitude.
type ReadStats struct {
	Lines   int                `json:"lines"`
	Fixes   int                `json:"fixes"`
	Valid   int                `json:"valid"`
	Skipped map[SkipReason]int `json:"skipped,omitempty"`
}

func (s *ReadStats) skip(r SkipReason) {
	if s.Skipped == nil {
		s.Skipped = make(map[SkipReason]int)
	}
	s.Skipped[r]++
}

func (s ReadStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lines=%d fixes=%d valid=%d", s.Lines, s.Fixes, s.Valid)
	reasons := make([]SkipReason, 0, len(s.Skipped))
	for r := range s.Skipped {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool { return reasons[i] < reasons[j] })
	for _, r := range reasons {
		fmt.Fprintf(&b, " %s=%d", r, s.Skipped[r])
	}
	return b.String()
}
