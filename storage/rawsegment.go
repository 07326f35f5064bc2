package storage

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

const segmentExt = ".raw"

// segment is one raw log file. firstSeq is a lower bound of the sequence
// numbers it contains and day the UTC day it was started.
type segment struct {
	name     string
	firstSeq uint64
	day      time.Time
}

func segmentName(firstSeq uint64, day time.Time) string {
	return fmt.Sprintf("%020d-%s%s", firstSeq, day.Format("20060102"), segmentExt)
}

func parseSegmentName(name string) (segment, bool) {
	base, ok := strings.CutSuffix(name, segmentExt)
	if !ok {
		return segment{}, false
	}
	seqPart, dayPart, ok := strings.Cut(base, "-")
	if !ok || len(seqPart) != 20 {
		return segment{}, false
	}
	seq, err := strconv.ParseUint(seqPart, 10, 64)
	if err != nil {
		return segment{}, false
	}
	day, err := time.Parse("20060102", dayPart)
	if err != nil {
		return segment{}, false
	}
	return segment{name: name, firstSeq: seq, day: day}, true
}

// listSegments returns the segments in dir ordered by first seq. Files with
// other names are ignored.
func listSegments(dir string) ([]segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list raw log segments in %s: %w", dir, err)
	}
	var segs []segment
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if s, ok := parseSegmentName(e.Name()); ok {
			segs = append(segs, s)
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].firstSeq < segs[j].firstSeq })
	return segs, nil
}

// segmentReader reads frames from one segment up to a byte limit.
type segmentReader struct {
	r        *bufio.Reader
	off      int64 // offset of the next frame
	size     int64
	firstSeq uint64
	lastSeq  uint64 // seq of the last frame returned; 0 before the first
	hdr      [frameHeaderLen]byte
	body     []byte
}

func newSegmentReader(f io.Reader, size int64, firstSeq uint64) *segmentReader {
	return &segmentReader{
		r:        bufio.NewReaderSize(io.LimitReader(f, size), 1<<20),
		size:     size,
		firstSeq: firstSeq,
	}
}

// next returns the next frame body, valid until the following call. It
// returns io.EOF at the end of the segment and an error wrapping
// errBadFrame for a torn or corrupt frame, leaving off at that frame.
func (s *segmentReader) next() ([]byte, error) {
	remaining := s.size - s.off
	if remaining == 0 {
		return nil, io.EOF
	}
	if remaining < frameHeaderLen {
		return nil, fmt.Errorf("%w: %d trailing bytes are shorter than a frame header", errBadFrame, remaining)
	}
	if _, err := io.ReadFull(s.r, s.hdr[:]); err != nil {
		return nil, fmt.Errorf("read frame header at offset %d: %w", s.off, err)
	}
	bodyLen, crc, err := parseFrameHeader(s.hdr[:], remaining-frameHeaderLen)
	if err != nil {
		return nil, err
	}

	if cap(s.body) < bodyLen {
		s.body = make([]byte, bodyLen)
	}
	body := s.body[:bodyLen]
	if _, err := io.ReadFull(s.r, body); err != nil {
		return nil, fmt.Errorf("read frame body at offset %d: %w", s.off, err)
	}
	if crc32.Checksum(body, castagnoli) != crc {
		return nil, fmt.Errorf("%w: CRC mismatch", errBadFrame)
	}

	seq := rawBodySeq(body)
	if seq < s.firstSeq || (s.lastSeq != 0 && seq <= s.lastSeq) {
		return nil, fmt.Errorf("%w: seq %d out of order after %d", errBadFrame, seq, s.lastSeq)
	}
	s.lastSeq = seq
	s.off += frameHeaderLen + int64(bodyLen)
	return body, nil
}

func rawBodySeq(body []byte) uint64 {
	return uint64(body[0]) | uint64(body[1])<<8 | uint64(body[2])<<16 | uint64(body[3])<<24 |
		uint64(body[4])<<32 | uint64(body[5])<<40 | uint64(body[6])<<48 | uint64(body[7])<<56
}

// recoverSegment scans the segment at path, truncates a torn or corrupt
// tail and returns the size that remains and the last seq found (0 when
// the segment has no valid record).
func recoverSegment(path string, firstSeq uint64) (size int64, lastSeq uint64, dropped int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("open raw log segment %s: %w", path, err)
	}
	defer f.Close()

	info, err := f.Stat()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("stat raw log segment %s: %w", path, err)
	}
	r := newSegmentReader(f, info.Size(), firstSeq)
	for {
		_, err := r.next()
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			return r.off, r.lastSeq, 0, nil
		}
		if !errors.Is(err, errBadFrame) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, 0, fmt.Errorf("scan raw log segment %s: %w", path, err)
		}
		break
	}

	dropped = info.Size() - r.off
	if err := f.Truncate(r.off); err != nil {
		return 0, 0, 0, fmt.Errorf("truncate torn tail of raw log segment %s at %d: %w", path, r.off, err)
	}
	if err := f.Sync(); err != nil {
		return 0, 0, 0, fmt.Errorf("sync raw log segment %s after truncation: %w", path, err)
	}
	return r.off, r.lastSeq, dropped, nil
}

// syncDir makes file creations, renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s for sync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

func segmentPath(dir string, s segment) string { return filepath.Join(dir, s.name) }
