package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("storage is closed")

const (
	defaultRetention          = 180 * 24 * time.Hour
	defaultDeviationRetention = 3 * 365 * 24 * time.Hour
	defaultSegmentSize        = 64 << 20
)

// Options configures Open. Zero durations and sizes take the defaults.
type Options struct {
	// Dir is the data directory, created if missing. The raw log goes to
	// Dir/raw and pebble to Dir/db.
	Dir string
	// FixRetention and RawRetention default to 180 days.
	FixRetention, RawRetention time.Duration
	// DeviationRetention defaults to 3 years (3*365 days).
	DeviationRetention time.Duration
	// SegmentSizeBytes is the size at which a raw log segment is sealed.
	// The default is 64 MiB.
	SegmentSizeBytes int64
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	// now replaces time.Now in tests of day rotation.
	now func() time.Time
}

// Store is the raw log plus the pebble store of derived data. All methods
// are safe for concurrent use.
type Store struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	raw     *rawLog
	db      *pebble.DB

	// closeMu is held shared by every operation on db and exclusively by
	// Close, because pebble panics on use after close.
	closeMu sync.RWMutex
	closed  bool // guarded by closeMu

	// fixMu serialises PutFixes so the duplicate check and the write are
	// atomic, and guards fixTerminals.
	fixMu        sync.Mutex
	fixTerminals map[string]struct{}
	// newestFixKey maps a terminal to an upper bound of its stored fix
	// keys, loaded on first use; guarded by fixMu. A key above it cannot
	// be stored yet, so fixes arriving in time order skip the duplicate
	// look-up. Pruning only removes keys, which keeps the bound true.
	newestFixKey map[string][]byte

	// entityMu serialises read-modify-write of trips and deviations, whose
	// index keys depend on the previous value.
	entityMu sync.Mutex
}

// Open opens or creates the store in opts.Dir, truncating a torn raw log
// tail left by a crash.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("open storage: Options.Dir is empty")
	}
	if opts.FixRetention <= 0 {
		opts.FixRetention = defaultRetention
	}
	if opts.RawRetention <= 0 {
		opts.RawRetention = defaultRetention
	}
	if opts.DeviationRetention <= 0 {
		opts.DeviationRetention = defaultDeviationRetention
	}
	if opts.SegmentSizeBytes <= 0 {
		opts.SegmentSizeBytes = defaultSegmentSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	log := opts.Logger.With("component", "storage")

	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", opts.Dir, err)
	}

	s := &Store{
		opts:         opts,
		log:          log,
		metrics:      newMetrics(),
		fixTerminals: make(map[string]struct{}),
		newestFixKey: make(map[string][]byte),
	}

	dbDir := filepath.Join(opts.Dir, "db")
	db, err := pebble.Open(dbDir, pebbleOptions(log))
	if err != nil {
		return nil, fmt.Errorf("open pebble store %s: %w", dbDir, err)
	}
	s.db = db

	raw, err := openRawLog(rawDir(opts.Dir), opts.SegmentSizeBytes, opts.now, log, s.metrics)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.raw = raw

	log.Info("storage opened", "dir", opts.Dir, "next_raw_seq", raw.nextSeq)
	return s, nil
}

func pebbleOptions(log *slog.Logger) *pebble.Options {
	opts := &pebble.Options{
		Logger:             pebbleLogger{log: log.With("subsystem", "pebble")},
		FormatMajorVersion: pebble.FormatNewest,
		CacheSize:          64 << 20,
	}
	// Bloom filters make the per-fix duplicate lookup in PutFixes cheap
	// for keys that are not stored yet, which is the common case.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return opts
}

// Close commits pending raw records, syncs derived data and closes both
// stores. It is safe to call more than once, and later calls return nil.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true

	var errs []error
	if err := s.raw.close(); err != nil {
		errs = append(errs, fmt.Errorf("close raw log: %w", err))
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		errs = append(errs, fmt.Errorf("sync pebble WAL: %w", err))
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close pebble store: %w", err))
	}
	s.log.Info("storage closed")
	return errors.Join(errs...)
}

// rlock takes closeMu shared and fails once the store is closed.
func (s *Store) rlock() error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

// AppendRaw writes rec to the raw log and returns once it is fdatasynced,
// with its seq (also stored in rec.Seq). A zero rec.ReceivedAt is set to the
// current time. Concurrent calls share one fdatasync. A disk error is
// returned to every caller of the failed batch.
func (s *Store) AppendRaw(rec *RawRecord) (uint64, error) {
	start := time.Now()
	seq, g, err := s.raw.append(rec, nil)
	if err != nil {
		return 0, fmt.Errorf("append raw record: %w", err)
	}
	<-g.done
	s.metrics.appendLatency.Observe(time.Since(start).Seconds())
	if g.err != nil {
		return 0, g.err
	}
	return seq, nil
}

// AppendRawAsync queues rec like AppendRaw but returns at once. done is
// called exactly once: with the seq after the record is fdatasynced, or
// with an error. For a record that cannot be queued it is called before
// AppendRawAsync returns. Otherwise it runs on the raw log's writer
// goroutine, so it must be quick and must not call AppendRaw.
func (s *Store) AppendRawAsync(rec *RawRecord, done func(seq uint64, err error)) {
	if _, _, err := s.raw.append(rec, done); err != nil {
		done(0, fmt.Errorf("append raw record: %w", err))
	}
}

// ReplayRaw calls fn for every durable raw record with Seq > afterSeq, in
// seq order, and stops at the first error fn returns. Records appended
// while it runs may or may not be included. A corrupt frame inside a sealed
// segment ends that segment with a Warn log and replay goes on with the
// next one. fn may call other Store methods.
func (s *Store) ReplayRaw(afterSeq uint64, fn func(RawRecord) error) error {
	// closeMu is not held here: fn typically calls PutFixes, and a shared
	// lock taken twice deadlocks once Close waits for the exclusive lock.
	if err := s.raw.healthy(); errors.Is(err, ErrClosed) {
		return err
	}
	return s.raw.replay(afterSeq, fn)
}

// Healthy returns the error of the last failed raw log commit, or nil when
// the last commit succeeded (or none was attempted).
func (s *Store) Healthy() error {
	return s.raw.healthy()
}

// Flush makes everything accepted so far durable: it waits for queued raw
// records and syncs pebble's WAL. Close does the same before closing.
func (s *Store) Flush() error {
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()

	var errs []error
	if err := s.raw.drain(); err != nil {
		errs = append(errs, fmt.Errorf("drain raw log: %w", err))
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		errs = append(errs, fmt.Errorf("sync pebble WAL: %w", err))
	}
	return errors.Join(errs...)
}

// Collectors returns the store's Prometheus collectors for the caller to
// register.
func (s *Store) Collectors() []prometheus.Collector {
	return s.metrics.collectors()
}

// RawFsyncs returns how many raw log fdatasync calls have succeeded since
// Open.
func (s *Store) RawFsyncs() uint64 { return s.raw.fsyncs.Load() }

// pebbleLogger routes pebble's log lines to slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}

// Fatalf logs and panics. Pebble calls it on invariant violations, such as
// on-disk corruption, after which continuing could damage data.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg)
	panic("pebble: " + msg)
}

var _ pebble.Logger = pebbleLogger{}
