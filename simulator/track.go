package simulator

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hwtrack/hwtrack/model"
)

// Format is a track file format the simulator reads.
type Format uint8

const (
	FormatUnknown Format = iota
	FormatGPX
	FormatPLT
	FormatNMEA
	FormatOwnTracks
)

func (f Format) String() string {
	switch f {
	case FormatGPX:
		return "gpx"
	case FormatPLT:
		return "plt"
	case FormatNMEA:
		return "nmea"
	case FormatOwnTracks:
		return "owntracks"
	default:
		return "unknown"
	}
}

// nmeaSentencePattern matches the address of a standard NMEA sentence
// from any talker (GP, GN, BD, IN, ...).
var nmeaSentencePattern = regexp.MustCompile(`\$[A-Z]{2}(GGA|RMC|GLL|ZDA|GSA|GSV|VTG),`)

// DetectFormat picks a format from the file extension and, when that is
// not conclusive, from the first bytes of data.
func DetectFormat(path string, data []byte) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".gpx":
		return FormatGPX
	case ".plt":
		return FormatPLT
	case ".nmea":
		return FormatNMEA
	case ".rec":
		return FormatOwnTracks
	}

	text, err := decodeText(data)
	if err != nil {
		return FormatUnknown
	}
	head := bytes.TrimSpace(text[:min(len(text), 4096)])
	switch {
	case bytes.HasPrefix(head, []byte("<?xml")) || bytes.HasPrefix(head, []byte("<gpx")):
		return FormatGPX
	case bytes.HasPrefix(head, []byte("Geolife trajectory")):
		return FormatPLT
	case bytes.Contains(head, []byte(`"_type"`)):
		return FormatOwnTracks
	case nmeaSentencePattern.Match(head):
		return FormatNMEA
	}
	return FormatUnknown
}

// ReadTrack reads a track file of any supported format; see DetectFormat.
func ReadTrack(path string) ([]model.Fix, ReadStats, Format, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ReadStats{}, FormatUnknown, fmt.Errorf("read track: %w", err)
	}
	format := DetectFormat(path, data)
	fixes, stats, err := DecodeTrack(path, format, data)
	return fixes, stats, format, err
}

// DecodeTrack decodes data in the given format; name is used in errors.
func DecodeTrack(name string, format Format, data []byte) ([]model.Fix, ReadStats, error) {
	switch format {
	case FormatGPX:
		return DecodeGPX(name, data)
	case FormatPLT:
		return DecodePLT(name, data)
	case FormatNMEA:
		return DecodeNMEA(name, data)
	case FormatOwnTracks:
		return DecodeOwnTracksRec(name, data)
	}
	return nil, ReadStats{}, &ParseError{Path: name, Err: ErrUnknownFormat}
}
