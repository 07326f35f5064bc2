package simulator

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// gpxPoint is a GPX 1.0 or 1.1 track or route point. Element names match
// in any namespace. Speed is a GPX 1.0 element in metres per second.
type gpxPoint struct {
	Lat    string  `xml:"lat,attr"`
	Lon    string  `xml:"lon,attr"`
	Ele    *string `xml:"ele"`
	Time   string  `xml:"time"`
	Speed  *string `xml:"speed"`
	Course *string `xml:"course"`
	Sat    *string `xml:"sat"`
	HDOP   *string `xml:"hdop"`
	Fix    string  `xml:"fix"`
}

// ReadGPX reads the track points (trkpt) and route points (rtept) of a GPX
// file in document order. Points with <fix>none</fix> are kept with
// Valid=false; points without <time> are skipped.
func ReadGPX(path string) ([]model.Fix, ReadStats, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ReadStats{}, fmt.Errorf("read gpx: %w", err)
	}
	return DecodeGPX(path, data)
}

// DecodeGPX is ReadGPX on bytes already in memory; name is used in errors.
func DecodeGPX(name string, data []byte) ([]model.Fix, ReadStats, error) {
	var stats ReadStats
	var fixes []model.Fix

	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := dec.InputPos()
		if err != nil {
			return nil, stats, &ParseError{Path: name, Line: line, Err: fmt.Errorf("invalid xml: %w", err)}
		}
		start, ok := tok.(xml.StartElement)
		if !ok || (start.Name.Local != "trkpt" && start.Name.Local != "rtept") {
			continue
		}

		var pt gpxPoint
		if err := dec.DecodeElement(&pt, &start); err != nil {
			return nil, stats, &ParseError{Path: name, Line: line, Err: fmt.Errorf("invalid %s: %w", start.Name.Local, err)}
		}
		stats.Lines++
		fix, reason, err := pt.fix()
		if err != nil {
			return nil, stats, &ParseError{Path: name, Line: line, Err: err}
		}
		if reason != SkipUnknown {
			stats.skip(reason)
			continue
		}
		fixes = append(fixes, fix)
	}

	return finish(name, fixes, stats)
}

func (pt *gpxPoint) fix() (model.Fix, SkipReason, error) {
	var f model.Fix
	var err error
	if f.Lat, f.Lon, err = parseLatLon(pt.Lat, pt.Lon); err != nil {
		return f, SkipUnknown, err
	}
	if strings.TrimSpace(pt.Time) == "" {
		return f, SkipNoTime, nil
	}
	if f.Time, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(pt.Time)); err != nil {
		return f, SkipUnknown, fmt.Errorf("invalid time %q: %w", pt.Time, err)
	}
	f.Time = f.Time.UTC()
	f.Valid = strings.TrimSpace(pt.Fix) != "none"

	optional := []struct {
		text *string
		name string
		dst  *float64
		has  model.FieldSet
	}{
		{pt.Ele, "ele", &f.AltM, model.HasAlt},
		{pt.Speed, "speed", &f.SpeedKmh, model.HasSpeed},
		{pt.Course, "course", &f.HeadingDeg, model.HasHeading},
		{pt.HDOP, "hdop", &f.HDOP, model.HasHDOP},
	}
	for _, o := range optional {
		if o.text == nil {
			continue
		}
		v, err := parseFinite(*o.text)
		if err != nil {
			return f, SkipUnknown, fmt.Errorf("invalid %s %q: %w", o.name, *o.text, err)
		}
		*o.dst = v
		f.Has |= o.has
	}
	if f.Has&model.HasSpeed != 0 {
		f.SpeedKmh *= 3.6 // GPX speed is in m/s
	}
	if pt.Sat != nil {
		n, err := strconv.Atoi(strings.TrimSpace(*pt.Sat))
		if err != nil || n < 0 {
			return f, SkipUnknown, fmt.Errorf("invalid sat %q", *pt.Sat)
		}
		f.Sats = n
		f.Has |= model.HasSats
	}
	return f, SkipUnknown, nil
}
