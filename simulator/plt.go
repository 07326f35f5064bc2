package simulator

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

const (
	// pltHeaderLines is the fixed header of a GeoLife 1.3 PLT file.
	pltHeaderLines = 6
	// pltNoAltitudeFt is GeoLife's marker for a missing altitude.
	pltNoAltitudeFt = -777
	feetToMetres    = 0.3048
)

// ReadPLT reads a Microsoft GeoLife 1.3 trajectory file: six header lines,
// then "lat,lon,0,alt_ft,days,YYYY-MM-DD,HH:MM:SS" rows. Times in the data
// set are GMT; altitudes are converted from feet to metres, and -777 (no
// altitude) leaves HasAlt unset.
func ReadPLT(path string) ([]model.Fix, ReadStats, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ReadStats{}, fmt.Errorf("read plt: %w", err)
	}
	return DecodePLT(path, data)
}

// DecodePLT is ReadPLT on bytes already in memory; name is used in errors.
func DecodePLT(name string, data []byte) ([]model.Fix, ReadStats, error) {
	var stats ReadStats
	var fixes []model.Fix

	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if lineNo <= pltHeaderLines {
			if lineNo == 1 && !strings.HasPrefix(line, "Geolife trajectory") {
				return nil, stats, parseErrorf(name, lineNo, "not a GeoLife PLT file: first line is %q", truncate(line, 40))
			}
			continue
		}
		if line == "" {
			continue
		}
		stats.Lines++

		fix, altMissing, err := parsePLTRow(line)
		if err != nil {
			return nil, stats, &ParseError{Path: name, Line: lineNo, Err: err}
		}
		if altMissing {
			stats.skip(SkipInvalidAltitude)
		}
		fixes = append(fixes, fix)
	}
	if err := sc.Err(); err != nil {
		return nil, stats, &ParseError{Path: name, Line: lineNo + 1, Err: err}
	}
	return finish(name, fixes, stats)
}

func parsePLTRow(line string) (f model.Fix, altMissing bool, err error) {
	cols := strings.Split(line, ",")
	if len(cols) != 7 {
		return f, false, fmt.Errorf("expected 7 comma-separated fields, got %d", len(cols))
	}
	if f.Lat, f.Lon, err = parseLatLon(cols[0], cols[1]); err != nil {
		return f, false, err
	}

	altFt, err := parseFinite(cols[3])
	if err != nil {
		return f, false, fmt.Errorf("invalid altitude %q: %w", cols[3], err)
	}
	if altFt == pltNoAltitudeFt {
		altMissing = true
	} else {
		f.AltM = altFt * feetToMetres
		f.Has |= model.HasAlt
	}

	stamp := strings.TrimSpace(cols[5]) + " " + strings.TrimSpace(cols[6])
	if f.Time, err = time.Parse("2006-01-02 15:04:05", stamp); err != nil {
		return f, false, fmt.Errorf("invalid date and time %q: %w", stamp, err)
	}
	f.Valid = true
	return f, altMissing, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
