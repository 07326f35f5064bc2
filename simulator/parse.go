package simulator

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/hwtrack/hwtrack/model"
)

var errNotFinite = errors.New("not a finite number")

// parseFinite parses a decimal number and rejects NaN and infinities,
// which strconv accepts but no GPS field can hold.
func parseFinite(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errNotFinite
	}
	return v, nil
}

// parseLatLon parses decimal degrees and checks their WGS-84 range.
func parseLatLon(latText, lonText string) (lat, lon float64, err error) {
	if lat, err = parseFinite(latText); err != nil {
		return 0, 0, fmt.Errorf("invalid latitude %q: %w", latText, err)
	}
	if lon, err = parseFinite(lonText); err != nil {
		return 0, 0, fmt.Errorf("invalid longitude %q: %w", lonText, err)
	}
	if err := checkLatLon(lat, lon); err != nil {
		return 0, 0, err
	}
	return lat, lon, nil
}

func checkLatLon(lat, lon float64) error {
	if lat < -90 || lat > 90 {
		return fmt.Errorf("latitude %v out of range [-90, 90]", lat)
	}
	if lon < -180 || lon > 180 {
		return fmt.Errorf("longitude %v out of range [-180, 180]", lon)
	}
	return nil
}

// finish counts the fixes and valid fixes into stats and turns an empty
// result into an ErrNoFixes parse error.
func finish(name string, fixes []model.Fix, stats ReadStats) ([]model.Fix, ReadStats, error) {
	stats.Fixes = len(fixes)
	for i := range fixes {
		if fixes[i].Valid {
			stats.Valid++
		}
	}
	if len(fixes) == 0 {
		return nil, stats, &ParseError{Path: name, Err: ErrNoFixes}
	}
	return fixes, stats, nil
}
