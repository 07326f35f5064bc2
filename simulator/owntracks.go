package simulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// otPayload is the subset of an OwnTracks payload the simulator uses.
// Tst is raw because some clients send it as a string.
type otPayload struct {
	Type string          `json:"_type"`
	Tst  json.RawMessage `json:"tst"`
	Lat  *float64        `json:"lat"`
	Lon  *float64        `json:"lon"`
	Alt  *float64        `json:"alt"`
	Vel  *float64        `json:"vel"` // km/h, -1 when unknown
	Cog  *float64        `json:"cog"` // degrees, -1 when unknown
	Acc  *float64        `json:"acc"` // metres
}

// ReadOwnTracksRec reads an OwnTracks recorder store file, whose lines are
// "ISO-time<TAB>*<padding><TAB>JSON", or a file of one JSON payload per
// line. Only _type "location" payloads become fixes; others (lwt,
// transition, ...) are counted as skipped. The fix time is the payload's
// tst (Unix seconds, a number or a string) or, without one, the line's
// recorder time.
func ReadOwnTracksRec(path string) ([]model.Fix, ReadStats, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ReadStats{}, fmt.Errorf("read owntracks rec: %w", err)
	}
	return DecodeOwnTracksRec(path, data)
}

// DecodeOwnTracksRec is ReadOwnTracksRec on bytes already in memory; name
// is used in errors.
func DecodeOwnTracksRec(name string, data []byte) ([]model.Fix, ReadStats, error) {
	var stats ReadStats
	var fixes []model.Fix

	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 4<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		stats.Lines++

		fix, reason, err := parseOwnTracksLine(line)
		if err != nil {
			return nil, stats, &ParseError{Path: name, Line: lineNo, Err: err}
		}
		if reason != SkipUnknown {
			stats.skip(reason)
			continue
		}
		fixes = append(fixes, fix)
	}
	if err := sc.Err(); err != nil {
		return nil, stats, &ParseError{Path: name, Line: lineNo + 1, Err: err}
	}
	return finish(name, fixes, stats)
}

func parseOwnTracksLine(line string) (model.Fix, SkipReason, error) {
	var f model.Fix
	var recorded time.Time
	payload := line
	if !strings.HasPrefix(line, "{") {
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 {
			return f, SkipUnknown, fmt.Errorf("expected time, tag and JSON separated by tabs")
		}
		var err error
		if recorded, err = time.Parse(time.RFC3339, strings.TrimSpace(parts[0])); err != nil {
			return f, SkipUnknown, fmt.Errorf("invalid recorder time %q: %w", parts[0], err)
		}
		payload = parts[2]
	}

	var p otPayload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return f, SkipUnknown, fmt.Errorf("invalid JSON payload: %w", err)
	}
	if p.Type != "location" {
		return f, SkipNotLocation, nil
	}
	if p.Lat == nil || p.Lon == nil {
		return f, SkipNoPosition, nil
	}
	if err := checkLatLon(*p.Lat, *p.Lon); err != nil {
		return f, SkipUnknown, err
	}
	f.Lat, f.Lon = *p.Lat, *p.Lon

	tst, ok, err := parseTst(p.Tst)
	if err != nil {
		return f, SkipUnknown, err
	}
	switch {
	case ok:
		f.Time = tst
	case !recorded.IsZero():
		f.Time = recorded.UTC()
	default:
		return f, SkipNoTime, nil
	}

	f.Valid = true
	if p.Alt != nil {
		f.AltM = *p.Alt
		f.Has |= model.HasAlt
	}
	if p.Vel != nil && *p.Vel >= 0 {
		f.SpeedKmh = *p.Vel
		f.Has |= model.HasSpeed
	}
	if p.Cog != nil && *p.Cog >= 0 {
		f.HeadingDeg = *p.Cog
		f.Has |= model.HasHeading
	}
	if p.Acc != nil && *p.Acc >= 0 {
		f.AccuracyM = *p.Acc
		f.Has |= model.HasAccuracy
	}
	return f, SkipUnknown, nil
}

// parseTst decodes an OwnTracks timestamp given as a JSON number or a
// string of digits (Unix seconds, UTC).
func parseTst(raw json.RawMessage) (time.Time, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false, nil
	}
	text := string(raw)
	if text[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, false, fmt.Errorf("invalid tst %s: %w", text, err)
		}
		text = s
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	if err != nil || sec < 0 || sec > 1<<40 {
		return time.Time{}, false, fmt.Errorf("invalid tst %s", string(raw))
	}
	return time.Unix(sec, 0).UTC(), true, nil
}
