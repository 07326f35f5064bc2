package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// RawRecord is one MQTT PUBLISH as the broker received it, payload
// unchanged.
type RawRecord struct {
	// Seq is assigned by AppendRaw, which ignores any value the caller set.
	Seq        uint64
	ReceivedAt time.Time
	ClientID   string
	// Username is the MQTT username, which is the terminal id.
	Username string
	Topic    string
	QoS      byte
	Retain   bool
	Payload  []byte
}

const (
	frameHeaderLen = 8 // body length + CRC-32C
	// minBodyLen is seq, time, QoS, flags and three zero-length strings.
	minBodyLen = 8 + 8 + 1 + 1 + 3
	// maxStringLen is the MQTT limit for client id, username and topic.
	maxStringLen = 65535
	// maxPayloadLen is the largest MQTT packet remaining length.
	maxPayloadLen = 268435455
	maxBodyLen    = minBodyLen + 3*(binary.MaxVarintLen32+maxStringLen) + maxPayloadLen

	flagRetain = 1 << 0
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadFrame marks a frame that is truncated, oversized or fails its CRC.
var errBadFrame = errors.New("bad raw log frame")

// validateRawRecord checks the limits that the frame format and MQTT impose.
func validateRawRecord(rec *RawRecord) error {
	if rec.QoS > 2 {
		return fmt.Errorf("invalid raw record: qos %d is not 0, 1 or 2", rec.QoS)
	}
	if len(rec.ClientID) > maxStringLen || len(rec.Username) > maxStringLen || len(rec.Topic) > maxStringLen {
		return fmt.Errorf("invalid raw record: client id, username or topic longer than %d bytes", maxStringLen)
	}
	if len(rec.Payload) > maxPayloadLen {
		return fmt.Errorf("invalid raw record: payload of %d bytes exceeds %d", len(rec.Payload), maxPayloadLen)
	}
	if rec.ReceivedAt.IsZero() {
		return nil
	}
	if y := rec.ReceivedAt.Year(); y < 1678 || y > 2261 {
		return fmt.Errorf("invalid raw record: receive time %s is outside the Unix nanosecond range", rec.ReceivedAt)
	}
	return nil
}

// appendRawFrame appends the framed encoding of rec with seq to dst.
func appendRawFrame(dst []byte, rec *RawRecord, seq uint64, receivedAt time.Time) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderLen)...)

	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(receivedAt.UnixNano()))
	var flags byte
	if rec.Retain {
		flags |= flagRetain
	}
	dst = append(dst, rec.QoS, flags)
	dst = appendString(dst, rec.ClientID)
	dst = appendString(dst, rec.Username)
	dst = appendString(dst, rec.Topic)
	dst = append(dst, rec.Payload...)

	body := dst[start+frameHeaderLen:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeRawBody decodes a frame body whose CRC was already checked. The
// payload is copied, so the record does not alias body.
func decodeRawBody(body []byte) (RawRecord, error) {
	if len(body) < minBodyLen {
		return RawRecord{}, fmt.Errorf("%w: body of %d bytes is shorter than %d", errBadFrame, len(body), minBodyLen)
	}
	var rec RawRecord
	rec.Seq = binary.LittleEndian.Uint64(body)
	rec.ReceivedAt = time.Unix(0, int64(binary.LittleEndian.Uint64(body[8:]))).UTC()
	rec.QoS = body[16]
	rec.Retain = body[17]&flagRetain != 0
	rest := body[18:]

	var err error
	if rec.ClientID, rest, err = readString(rest); err != nil {
		return RawRecord{}, err
	}
	if rec.Username, rest, err = readString(rest); err != nil {
		return RawRecord{}, err
	}
	if rec.Topic, rest, err = readString(rest); err != nil {
		return RawRecord{}, err
	}
	rec.Payload = append([]byte(nil), rest...)
	return rec, nil
}

func readString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, fmt.Errorf("%w: string length out of range", errBadFrame)
	}
	end := k + int(n)
	return string(b[k:end]), b[end:], nil
}

// parseFrameHeader validates a frame header against the bytes left in the
// segment and returns the body length.
func parseFrameHeader(hdr []byte, remaining int64) (bodyLen int, crc uint32, err error) {
	n := binary.LittleEndian.Uint32(hdr)
	crc = binary.LittleEndian.Uint32(hdr[4:])
	if n < minBodyLen || n > maxBodyLen {
		return 0, 0, fmt.Errorf("%w: body length %d out of range", errBadFrame, n)
	}
	if int64(n) > remaining {
		return 0, 0, fmt.Errorf("%w: body length %d exceeds the %d bytes left", errBadFrame, n, remaining)
	}
	return int(n), crc, nil
}
