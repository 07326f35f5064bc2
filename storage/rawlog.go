package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// maxPendingBytes bounds the encoded records waiting for the writer. An
// append blocks while the buffer is over this size, unless it is empty, so
// a slow disk pushes back on publishers instead of growing memory.
const maxPendingBytes = 32 << 20

// commitGroup is every record written by one write and one fdatasync.
// Closing done releases all synchronous waiters at once.
type commitGroup struct {
	done    chan struct{}
	err     error // set before done is closed
	records int
	async   []asyncWaiter
}

type asyncWaiter struct {
	seq   uint64
	start time.Time
	fn    func(seq uint64, err error)
}

func newCommitGroup() *commitGroup { return &commitGroup{done: make(chan struct{})} }

// rawLog is the append-only raw log. Appenders encode their record into
// the pending buffer under mu. One writer goroutine swaps the buffer out,
// writes it with one write call, fdatasyncs once and then releases the
// whole group (group commit).
type rawLog struct {
	dir         string
	log         *slog.Logger
	metrics     *metrics
	now         func() time.Time
	segmentSize int64

	mu        sync.Mutex
	spaceCond *sync.Cond   // waits on mu for pending to drain or the log to close
	nextSeq   uint64       // guarded by mu
	pending   []byte       // guarded by mu
	firstSeq  uint64       // guarded by mu; seq of the first pending record
	group     *commitGroup // guarded by mu; the group pending records join
	spare     []byte       // guarded by mu; the previous buffer, for reuse
	closed    bool         // guarded by mu
	lastErr   error        // guarded by mu; nil after a successful commit

	wake       chan struct{} // capacity 1; nudges the writer
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	// Owned by the writer goroutine after open.
	file   *os.File
	active segment
	size   int64 // bytes written and synced to the active segment

	segMu       sync.Mutex
	segments    []segment // guarded by segMu; the active segment is last
	durableSize int64     // guarded by segMu; synced size of the last segment

	fsyncs atomic.Uint64 // fdatasync calls that succeeded
}

func openRawLog(dir string, segmentSize int64, now func() time.Time, log *slog.Logger, m *metrics) (*rawLog, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create raw log directory %s: %w", dir, err)
	}
	l := &rawLog{
		dir:         dir,
		log:         log,
		metrics:     m,
		now:         now,
		segmentSize: segmentSize,
		nextSeq:     1,
		group:       newCommitGroup(),
		wake:        make(chan struct{}, 1),
		writerDone:  make(chan struct{}),
	}
	l.spaceCond = sync.NewCond(&l.mu)

	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	l.segments = segs
	if len(segs) > 0 {
		if err := l.reopenLast(); err != nil {
			return nil, err
		}
	}

	go l.run()
	return l, nil
}

// reopenLast recovers the last segment and continues appending to it.
func (l *rawLog) reopenLast() error {
	last := l.segments[len(l.segments)-1]
	path := segmentPath(l.dir, last)
	size, lastSeq, dropped, err := recoverSegment(path, last.firstSeq)
	if err != nil {
		return err
	}
	if dropped > 0 {
		l.log.Warn("truncated torn tail of raw log segment",
			"segment", last.name, "offset", size, "dropped_bytes", dropped)
	}

	l.nextSeq = max(lastSeq+1, last.firstSeq, 1)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open raw log segment %s for append: %w", path, err)
	}
	l.file = f
	l.active = last
	l.size = size
	l.durableSize = size
	return nil
}

// append encodes rec into the pending buffer and returns its seq and the
// group that will commit it. fn, when not nil, is called by the writer.
func (l *rawLog) append(rec *RawRecord, fn func(uint64, error)) (uint64, *commitGroup, error) {
	if err := validateRawRecord(rec); err != nil {
		return 0, nil, err
	}
	start := time.Now()

	l.mu.Lock()
	for !l.closed && len(l.pending) >= maxPendingBytes {
		l.spaceCond.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		return 0, nil, ErrClosed
	}
	seq := l.nextSeq
	l.nextSeq++
	if rec.ReceivedAt.IsZero() {
		rec.ReceivedAt = l.now().UTC()
	}
	if len(l.pending) == 0 {
		l.firstSeq = seq
	}
	l.pending = appendRawFrame(l.pending, rec, seq, rec.ReceivedAt)
	g := l.group
	g.records++
	if fn != nil {
		g.async = append(g.async, asyncWaiter{seq: seq, start: start, fn: fn})
	}
	l.mu.Unlock()

	select {
	case l.wake <- struct{}{}:
	default:
	}
	rec.Seq = seq
	return seq, g, nil
}

// run is the writer goroutine. It exits once the log is closed and every
// pending record has been committed.
func (l *rawLog) run() {
	defer close(l.writerDone)
	for {
		l.mu.Lock()
		for l.group.records == 0 && !l.closed {
			l.mu.Unlock()
			<-l.wake
			l.mu.Lock()
		}
		if l.group.records == 0 {
			l.mu.Unlock()
			return
		}
		buf, first, g := l.pending, l.firstSeq, l.group
		l.pending = l.spare[:0]
		l.spare = nil
		l.group = newCommitGroup()
		l.mu.Unlock()
		l.spaceCond.Broadcast()

		err := l.commit(buf, first)
		l.finish(g, err, len(buf))

		l.mu.Lock()
		l.lastErr = err
		if cap(buf) <= maxPendingBytes {
			l.spare = buf[:0]
		}
		l.mu.Unlock()
	}
}

// finish releases the waiters of g and records metrics.
func (l *rawLog) finish(g *commitGroup, err error, bytes int) {
	g.err = err
	close(g.done)
	if err != nil {
		l.metrics.writeErrors.WithLabelValues("raw").Inc()
		l.log.Error("raw log commit failed", "records", g.records, "err", err)
	} else {
		l.metrics.fsyncBatch.Observe(float64(g.records))
		l.metrics.rawBytes.Add(float64(bytes))
	}
	for _, w := range g.async {
		l.metrics.appendLatency.Observe(time.Since(w.start).Seconds())
		if err != nil {
			w.fn(0, err)
		} else {
			w.fn(w.seq, nil)
		}
	}
}

// commit writes buf, whose first record has seq first, and syncs it.
func (l *rawLog) commit(buf []byte, first uint64) error {
	day := l.now().UTC().Truncate(24 * time.Hour)
	if l.file == nil || l.size >= l.segmentSize || !day.Equal(l.active.day) {
		if err := l.rotate(first, day); err != nil {
			return err
		}
	}

	start := time.Now()
	_, err := l.file.Write(buf)
	if err == nil {
		err = fdatasync(l.file)
	}
	if err != nil {
		l.rollback()
		return fmt.Errorf("append to raw log segment %s: %w", l.active.name, err)
	}
	l.metrics.fsyncLatency.Observe(time.Since(start).Seconds())
	l.fsyncs.Add(1)
	l.size += int64(len(buf))

	l.segMu.Lock()
	l.durableSize = l.size
	l.segMu.Unlock()
	return nil
}

// rollback cuts the active segment back to its last synced size after a
// failed write. If that fails too, the segment is abandoned so no later
// record lands behind unsynced bytes. ReplayRaw skips such a tail.
func (l *rawLog) rollback() {
	err := l.file.Truncate(l.size)
	if err == nil {
		return
	}
	l.log.Warn("abandoning raw log segment after failed truncation",
		"segment", l.active.name, "offset", l.size, "err", err)
	_ = l.file.Close()
	l.file = nil
}

// rotate seals the active segment and starts one whose first seq is first.
// An empty sealed segment is removed.
func (l *rawLog) rotate(first uint64, day time.Time) error {
	next := segment{name: segmentName(first, day), firstSeq: first, day: day}
	path := segmentPath(l.dir, next)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("create raw log segment %s: %w", path, err)
	}
	if err := syncDir(l.dir); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}

	old, oldFile, oldSize := l.active, l.file, l.size
	l.file, l.active, l.size = f, next, 0

	// An open active segment is always the last in the list.
	removeOld := oldFile != nil && oldSize == 0
	l.segMu.Lock()
	if removeOld {
		l.segments = l.segments[:len(l.segments)-1]
	}
	l.segments = append(l.segments, next)
	l.durableSize = 0
	l.segMu.Unlock()

	if oldFile != nil {
		if err := oldFile.Close(); err != nil {
			l.log.Warn("close sealed raw log segment", "segment", old.name, "err", err)
		}
		if removeOld {
			if err := os.Remove(segmentPath(l.dir, old)); err != nil {
				l.log.Warn("remove empty raw log segment", "segment", old.name, "err", err)
			}
		}
	}
	l.log.Debug("started raw log segment", "segment", next.name)
	return nil
}

// healthy returns the error of the last commit, or nil once a later commit
// succeeded.
func (l *rawLog) healthy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.lastErr
}

// drain waits until every record appended before the call is committed and
// returns the error of the last commit.
func (l *rawLog) drain() error {
	l.mu.Lock()
	if l.group.records == 0 {
		err := l.lastErr
		l.mu.Unlock()
		return err
	}
	g := l.group
	l.mu.Unlock()
	<-g.done
	return g.err
}

// close stops accepting records, commits the pending ones and closes the
// active segment. It is safe to call more than once.
func (l *rawLog) close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.spaceCond.Broadcast()
		select {
		case l.wake <- struct{}{}:
		default:
		}
		<-l.writerDone

		l.mu.Lock()
		l.closeErr = l.lastErr
		l.mu.Unlock()
		if l.file != nil {
			if err := l.file.Close(); err != nil && l.closeErr == nil {
				l.closeErr = fmt.Errorf("close raw log segment %s: %w", l.active.name, err)
			}
			l.file = nil
		}
	})
	return l.closeErr
}

// replay calls fn for every durable record with seq > afterSeq, in order.
func (l *rawLog) replay(afterSeq uint64, fn func(RawRecord) error) error {
	l.segMu.Lock()
	segs := append([]segment(nil), l.segments...)
	lastSize := l.durableSize
	l.segMu.Unlock()

	start := 0
	for i, s := range segs {
		if s.firstSeq <= afterSeq+1 {
			start = i
		}
	}
	for i := start; i < len(segs); i++ {
		size := int64(-1)
		if i == len(segs)-1 {
			size = lastSize
		}
		if err := l.replaySegment(segs[i], size, afterSeq, fn); err != nil {
			return err
		}
	}
	return nil
}

// replaySegment reads one segment up to size bytes, or to its end when size
// is negative.
func (l *rawLog) replaySegment(s segment, size int64, afterSeq uint64, fn func(RawRecord) error) error {
	path := segmentPath(l.dir, s)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // removed by Prune since the listing
	}
	if err != nil {
		return fmt.Errorf("open raw log segment %s: %w", path, err)
	}
	defer f.Close()

	if size < 0 {
		info, err := f.Stat()
		if err != nil {
			return fmt.Errorf("stat raw log segment %s: %w", path, err)
		}
		size = info.Size()
	}

	r := newSegmentReader(f, size, s.firstSeq)
	for {
		body, err := r.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, errBadFrame) || errors.Is(err, io.ErrUnexpectedEOF) {
			l.log.Warn("skipping unreadable rest of raw log segment",
				"segment", s.name, "offset", r.off, "skipped_bytes", size-r.off, "err", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read raw log segment %s: %w", path, err)
		}
		if rawBodySeq(body) <= afterSeq {
			continue
		}
		rec, err := decodeRawBody(body)
		if err != nil {
			l.log.Warn("skipping unreadable rest of raw log segment",
				"segment", s.name, "offset", r.off, "skipped_bytes", size-r.off, "err", err)
			return nil
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// prune removes sealed segments whose whole day ended at or before cutoff.
func (l *rawLog) prune(cutoff time.Time) (int, error) {
	l.segMu.Lock()
	var remove []segment
	keep := l.segments[:0:0]
	for i, s := range l.segments {
		last := i == len(l.segments)-1
		if !last && !s.day.Add(24*time.Hour).After(cutoff) {
			remove = append(remove, s)
			continue
		}
		keep = append(keep, s)
	}
	l.segments = keep
	l.segMu.Unlock()

	var errs []error
	removed := 0
	for _, s := range remove {
		if err := os.Remove(segmentPath(l.dir, s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove raw log segment %s: %w", s.name, err))
			continue
		}
		removed++
	}
	if removed > 0 {
		if err := syncDir(l.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

func rawDir(dataDir string) string { return filepath.Join(dataDir, "raw") }
