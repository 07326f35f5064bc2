package timeseries

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Files in a spool directory:
//
//	00000000000000000001.spool  segments of framed batches, oldest first
//	head                        "SEGMENT OFFSET" of the first unwritten batch
//	rejected.lp                 batches InfluxDB rejected, each after a
//	                            "# rejected ..." comment line with the reason
//	corrupt-*.spool             a segment set aside after a CRC mismatch
//
// A frame is a 4-byte body length and a 4-byte CRC-32C of the body, both
// little-endian, then the body: the batch's creation time (Unix ns, 8
// bytes), its point count (4 bytes) and its line protocol.
const (
	spoolExt       = ".spool"
	spoolHeadFile  = "head"
	rejectFile     = "rejected.lp"
	frameHeaderLen = 8
	frameMetaLen   = 12
	// maxFrameBody bounds a body length read from disk, so a corrupt
	// header cannot make the reader allocate gigabytes.
	maxFrameBody = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errSpoolFull is returned by append when a batch would take the spool
// past its size limit.
var errSpoolFull = errors.New("time series spool is full")

// errBadFrame marks a frame that is truncated or fails its CRC.
var errBadFrame = errors.New("bad spool frame")

// spoolRecord is one batch read back from the spool.
type spoolRecord struct {
	created time.Time
	points  int
	body    []byte

	segment uint64
	offset  int64
	size    int64 // whole frame
}

// spoolSegment is one segment file. end is the offset after its last good
// frame, and records counts the unwritten frames before it. A corrupt
// segment is renamed instead of deleted once read.
type spoolSegment struct {
	num     uint64
	end     int64
	records int
	corrupt bool
}

// spool is the durable FIFO of batches that could not be written to
// InfluxDB yet. One goroutine reads (peek, ack) while others append; mu
// guards every field below it.
type spool struct {
	dir          string
	maxBytes     int64
	segmentBytes int64
	log          *slog.Logger

	mu       sync.Mutex
	segments []spoolSegment // oldest first; the last one takes appends
	tail     *os.File       // open for append on the last segment, or nil
	reader   *os.File       // open on segments[0], or nil
	headOff  int64          // offset of the first unwritten frame in segments[0]
	bytes    int64          // unwritten frame bytes
	records  int
	// oldest is the creation time of the first unwritten batch.
	oldest time.Time
	// corruptFrames counts frames found corrupt since open.
	corruptFrames int
}

// openSpool opens or creates the spool in dir and checks every frame in
// it. A frame cut short at the end of the newest segment (a crash during
// an append, before the fsync that made it count) is truncated.
func openSpool(dir string, maxBytes int64, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create spool directory: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, segmentBytes: min(max(maxBytes/8, 1<<20), 64<<20), log: log}

	nums, err := s.listSegments()
	if err != nil {
		return nil, err
	}
	headSeg, headOff := s.readHead()
	for i, num := range nums {
		if num < headSeg {
			// Written out before the last stop, but not yet deleted.
			if err := os.Remove(s.segmentPath(num)); err != nil {
				return nil, fmt.Errorf("remove written spool segment: %w", err)
			}
			continue
		}
		start := int64(0)
		if num == headSeg {
			start = headOff
		}
		seg, err := s.scanSegment(num, start, i == len(nums)-1)
		if err != nil {
			return nil, err
		}
		if len(s.segments) == 0 {
			s.headOff = start
		}
		s.segments = append(s.segments, seg)
	}
	if s.records > 0 {
		s.log.Info("time series spool contains batches from before the last stop", "batches", s.records, "bytes", s.bytes, "oldest", s.oldest)
	}
	return s, nil
}

func (s *spool) segmentPath(num uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", num, spoolExt))
}

func (s *spool) listSegments() ([]uint64, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list spool segments: %w", err)
	}
	var nums []uint64
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), spoolExt)
		if !ok || len(base) != 20 {
			continue
		}
		if num, err := strconv.ParseUint(base, 10, 64); err == nil {
			nums = append(nums, num)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

// readHead returns the saved read position. A missing or unreadable head
// file starts from the oldest segment: writing a batch twice is harmless
// because InfluxDB keeps one point per series and timestamp.
func (s *spool) readHead() (segment uint64, offset int64) {
	b, err := os.ReadFile(filepath.Join(s.dir, spoolHeadFile))
	if err != nil {
		return 0, 0
	}
	if _, err := fmt.Sscan(string(b), &segment, &offset); err != nil || offset < 0 {
		s.log.Warn("time series spool head position unreadable; writing its oldest segment again", "err", err)
		return 0, 0
	}
	return segment, offset
}

// scanSegment checks the frames of one segment from start and adds them to
// the counters.
func (s *spool) scanSegment(num uint64, start int64, last bool) (spoolSegment, error) {
	path := s.segmentPath(num)
	f, err := os.Open(path)
	if err != nil {
		return spoolSegment{}, fmt.Errorf("open spool segment: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return spoolSegment{}, fmt.Errorf("stat spool segment: %w", err)
	}
	size := info.Size()
	seg := spoolSegment{num: num, end: min(start, size)}
	for seg.end < size {
		rec, err := readFrame(f, seg.end, size)
		if err != nil {
			torn := last && errors.Is(err, io.ErrUnexpectedEOF)
			if torn {
				s.log.Warn("time series spool: cutting a batch left incomplete by a crash; its fixes are still in the raw log",
					"segment", filepath.Base(path), "offset", seg.end, "bytes", size-seg.end)
				if err := os.Truncate(path, seg.end); err != nil {
					return spoolSegment{}, fmt.Errorf("truncate spool segment: %w", err)
				}
			} else {
				s.corruptFrames++
				seg.corrupt = true
				s.log.Error("time series spool segment is corrupt; batches after the bad frame are not written and the file is kept as corrupt-*",
					"segment", filepath.Base(path), "offset", seg.end, "bytes_skipped", size-seg.end, "err", err)
			}
			break
		}
		if s.records == 0 {
			s.oldest = rec.created
		}
		s.records++
		s.bytes += rec.size
		seg.records++
		seg.end += rec.size
	}
	return seg, nil
}

// readFrame reads and checks the frame at off in a file of size bytes. A
// frame that runs past the end of the file returns io.ErrUnexpectedEOF.
func readFrame(f *os.File, off, size int64) (spoolRecord, error) {
	var hdr [frameHeaderLen]byte
	if size-off < frameHeaderLen {
		return spoolRecord{}, io.ErrUnexpectedEOF
	}
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return spoolRecord{}, fmt.Errorf("read spool frame header: %w", err)
	}
	n := int64(binary.LittleEndian.Uint32(hdr[:]))
	if n < frameMetaLen || n > maxFrameBody {
		return spoolRecord{}, fmt.Errorf("%w: body length %d", errBadFrame, n)
	}
	if size-off-frameHeaderLen < n {
		return spoolRecord{}, io.ErrUnexpectedEOF
	}
	body := make([]byte, n)
	if _, err := f.ReadAt(body, off+frameHeaderLen); err != nil {
		return spoolRecord{}, fmt.Errorf("read spool frame: %w", err)
	}
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
		return spoolRecord{}, fmt.Errorf("%w: CRC mismatch", errBadFrame)
	}
	return spoolRecord{
		created: time.Unix(0, int64(binary.LittleEndian.Uint64(body))),
		points:  int(binary.LittleEndian.Uint32(body[8:])),
		body:    body[frameMetaLen:],
		offset:  off,
		size:    frameHeaderLen + n,
	}, nil
}

func appendFrame(dst []byte, b *batch) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderLen)...)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.created.UnixNano()))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(b.points))
	dst = append(dst, b.body...)
	body := dst[start+frameHeaderLen:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst
}

// append writes batches in order and syncs them to disk. It returns how
// many were written: fewer than len(batches) with errSpoolFull when the
// next would pass the size limit, or with the write error.
func (s *spool) append(batches []*batch) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var buf []byte
	written := 0
	var err error
	for _, b := range batches {
		size := int64(frameHeaderLen + frameMetaLen + len(b.body))
		if s.bytes+size > s.maxBytes {
			err = errSpoolFull
			break
		}
		if err = s.ensureTail(); err != nil {
			break
		}
		buf = appendFrame(buf[:0], b)
		if err = s.writeTail(buf); err != nil {
			break
		}
		if s.records == 0 {
			s.oldest = b.created
		}
		s.records++
		s.bytes += size
		s.segments[len(s.segments)-1].records++
		written++
	}
	if written > 0 {
		if serr := s.tail.Sync(); serr != nil {
			// The frames are in the page cache and will be read, but they
			// may not survive a power failure. Reporting the error makes
			// the caller keep them pending.
			return 0, fmt.Errorf("sync spool segment: %w", serr)
		}
	}
	return written, err
}

// ensureTail opens a segment for appends, starting a new one when there is
// none or the last one is full or corrupt.
func (s *spool) ensureTail() error {
	if n := len(s.segments); n > 0 && s.tail != nil {
		last := s.segments[n-1]
		if last.end < s.segmentBytes && !last.corrupt {
			return nil
		}
	}
	if n := len(s.segments); n > 0 && s.tail == nil && !s.segments[n-1].corrupt && s.segments[n-1].end < s.segmentBytes {
		f, err := os.OpenFile(s.segmentPath(s.segments[n-1].num), os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("open spool segment: %w", err)
		}
		s.tail = f
		return nil
	}

	var num uint64 = 1
	if n := len(s.segments); n > 0 {
		num = s.segments[n-1].num + 1
	}
	if s.tail != nil {
		if err := s.tail.Sync(); err != nil {
			return fmt.Errorf("sync spool segment: %w", err)
		}
		_ = s.tail.Close()
		s.tail = nil
	}
	f, err := os.OpenFile(s.segmentPath(num), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("create spool segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		_ = f.Close()
		return err
	}
	s.tail = f
	if len(s.segments) == 0 {
		s.headOff = 0
	}
	s.segments = append(s.segments, spoolSegment{num: num})
	return nil
}

// writeTail appends one frame. On a short write it cuts the segment back,
// so no partial frame sits in front of later ones.
func (s *spool) writeTail(frame []byte) error {
	last := &s.segments[len(s.segments)-1]
	if _, err := s.tail.Write(frame); err != nil {
		if terr := s.tail.Truncate(last.end); terr != nil {
			// Later frames would follow a partial one: seal this segment.
			last.corrupt = true
			_ = s.tail.Close()
			s.tail = nil
		}
		return fmt.Errorf("write spool segment: %w", err)
	}
	last.end += int64(len(frame))
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open spool directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync spool directory: %w", err)
	}
	return nil
}

// peek returns the oldest unwritten batch, or false when the spool is empty.
func (s *spool) peek() (spoolRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.segments) > 0 {
		head := s.segments[0]
		if s.headOff >= head.end {
			if len(s.segments) == 1 && !head.corrupt {
				return spoolRecord{}, false, nil
			}
			if err := s.dropHeadSegment(); err != nil {
				return spoolRecord{}, false, err
			}
			continue
		}
		if s.reader == nil {
			f, err := os.Open(s.segmentPath(head.num))
			if err != nil {
				return spoolRecord{}, false, fmt.Errorf("open spool segment: %w", err)
			}
			s.reader = f
		}
		rec, err := readFrame(s.reader, s.headOff, head.end)
		if err != nil {
			// The frame passed its check when it was written or opened,
			// so the disk changed under it.
			s.corruptFrames++
			s.bytes -= head.end - s.headOff
			s.records -= head.records
			s.segments[0].end = s.headOff
			s.segments[0].records = 0
			s.segments[0].corrupt = true
			s.log.Error("time series spool frame failed its check on reading; the rest of the segment is kept as corrupt-*",
				"segment", head.num, "offset", s.headOff, "err", err)
			continue
		}
		rec.segment = head.num
		return rec, true, nil
	}
	return spoolRecord{}, false, nil
}

// ack marks the batch returned by peek as written.
func (s *spool) ack(rec spoolRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segments) == 0 || s.segments[0].num != rec.segment || s.headOff != rec.offset {
		return fmt.Errorf("ack of spool batch at %d:%d, which is not the head", rec.segment, rec.offset)
	}
	s.headOff += rec.size
	s.bytes -= rec.size
	s.records--
	s.segments[0].records--
	s.oldest = time.Time{}

	head := s.segments[0]
	if s.headOff >= head.end && (len(s.segments) > 1 || head.end >= s.segmentBytes || head.corrupt) {
		if err := s.dropHeadSegment(); err != nil {
			return err
		}
	}
	if s.records > 0 && s.reader == nil && len(s.segments) > 0 {
		if f, err := os.Open(s.segmentPath(s.segments[0].num)); err == nil {
			s.reader = f
		}
	}
	if s.records > 0 && s.reader != nil {
		var meta [frameHeaderLen + 8]byte
		if _, err := s.reader.ReadAt(meta[:], s.headOff); err == nil {
			s.oldest = time.Unix(0, int64(binary.LittleEndian.Uint64(meta[frameHeaderLen:])))
		}
	}
	return s.saveHead()
}

// dropHeadSegment deletes the fully read oldest segment, or keeps it as
// corrupt-* for inspection when it held a bad frame.
func (s *spool) dropHeadSegment() error {
	head := s.segments[0]
	if s.reader != nil {
		_ = s.reader.Close()
		s.reader = nil
	}
	if len(s.segments) == 1 && s.tail != nil {
		_ = s.tail.Close()
		s.tail = nil
	}
	path := s.segmentPath(head.num)
	var err error
	if head.corrupt {
		err = os.Rename(path, filepath.Join(s.dir, "corrupt-"+filepath.Base(path)))
	} else {
		err = os.Remove(path)
	}
	if err != nil {
		return fmt.Errorf("remove written spool segment: %w", err)
	}
	s.segments = s.segments[1:]
	s.headOff = 0
	return nil
}

// saveHead records the read position. It is not synced: after a crash an
// older position only means some batches are written twice, which
// InfluxDB stores once.
func (s *spool) saveHead() error {
	var seg uint64
	if len(s.segments) > 0 {
		seg = s.segments[0].num
	}
	content := fmt.Appendf(nil, "%d %d\n", seg, s.headOff)
	if err := os.WriteFile(filepath.Join(s.dir, spoolHeadFile), content, 0o640); err != nil {
		return fmt.Errorf("save spool head: %w", err)
	}
	return nil
}

// reject appends a batch InfluxDB refused for good to the reject file,
// after a comment line with the time, status and reason. Line protocol
// skips lines starting with #, so the file can be written to InfluxDB
// as it is once the cause is fixed.
func (s *spool) reject(body []byte, status int, reason string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(s.dir, rejectFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open reject file: %w", err)
	}
	defer f.Close()
	reason = strings.Join(strings.Fields(reason), " ")
	out := fmt.Appendf(nil, "# rejected %s status %d: %s\n", now.UTC().Format(time.RFC3339), status, reason)
	out = append(out, body...)
	if len(body) > 0 && body[len(body)-1] != '\n' {
		out = append(out, '\n')
	}
	if _, err := f.Write(out); err != nil {
		return fmt.Errorf("write reject file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync reject file: %w", err)
	}
	return nil
}

// spoolStats is a snapshot of the spool counters for the metrics.
type spoolStats struct {
	bytes         int64
	batches       int
	oldest        time.Time
	corruptFrames int
}

func (s *spool) stats() spoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return spoolStats{bytes: s.bytes, batches: s.records, oldest: s.oldest, corruptFrames: s.corruptFrames}
}

func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
		s.reader = nil
	}
	if s.tail != nil {
		errs = append(errs, s.tail.Sync(), s.tail.Close())
		s.tail = nil
	}
	return errors.Join(errs...)
}
