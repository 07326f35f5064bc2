package storage

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Key prefixes. The package documentation lists the full key layout.
const (
	prefixMeta          = "m/"
	prefixFix           = "f/"
	prefixFixTerminal   = "ft/"
	prefixVehicle       = "v/"
	prefixZone          = "z/"
	prefixBooking       = "b/"
	prefixTrip          = "t/"
	prefixTripByVehicle = "tv/"
	prefixDeviation     = "d/"
	prefixDevByStart    = "ds/"
	prefixDevByTerminal = "dt/"
	prefixState         = "s/"

	keyAppliedRawSeq = prefixMeta + "applied_raw_seq"
)

// validateID rejects ids that cannot be used in keys. Terminal ids are
// followed by more key bytes, so they end at 0x00 and must not contain it.
func validateID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("invalid %s: empty", kind)
	}
	if strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("invalid %s %q: contains a NUL byte", kind, id)
	}
	return nil
}

func makeKey(prefix, id string) []byte {
	k := make([]byte, 0, len(prefix)+len(id))
	k = append(k, prefix...)
	return append(k, id...)
}

// prefixEnd returns the smallest key greater than every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// terminalPrefix returns prefix + terminal + 0x00.
func terminalPrefix(prefix, terminal string) []byte {
	k := make([]byte, 0, len(prefix)+len(terminal)+1+16)
	k = append(k, prefix...)
	k = append(k, terminal...)
	return append(k, 0)
}

// appendTime appends t as Unix nanoseconds, big-endian with the sign bit
// flipped so that byte order is time order.
func appendTime(k []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(k, uint64(t.UnixNano())^(1<<63))
}

func decodeTime(b []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)^(1<<63))).UTC()
}

// inNanoRange reports whether t survives the round trip through UnixNano.
func inNanoRange(t time.Time) bool {
	y := t.Year()
	return y >= 1678 && y <= 2261
}

// clampNano keeps a query bound inside the Unix nanosecond range so that
// far-past and far-future bounds still order correctly.
func clampNano(t time.Time) time.Time {
	switch {
	case t.Year() < 1678:
		return time.Unix(0, -1<<63).UTC()
	case t.Year() > 2261:
		return time.Unix(0, 1<<63-1).UTC()
	}
	return t
}

func fixKey(terminal string, t time.Time, seq uint64) []byte {
	k := terminalPrefix(prefixFix, terminal)
	k = appendTime(k, t)
	return binary.BigEndian.AppendUint64(k, seq)
}
