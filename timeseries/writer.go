package timeseries

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"golang.org/x/time/rate"

	"github.com/hwtrack/hwtrack/model"
)

// Options configures a Writer or a Reader.
type Options struct {
	URL    string
	Token  string
	Org    string
	Bucket string
	// Measurement is the measurement fixes are written to and read from.
	Measurement string

	// BatchSize is the number of points in one write request.
	BatchSize int
	// FlushInterval is the longest a point waits for its batch to fill.
	FlushInterval time.Duration
	// MemoryBatches is how many sealed batches may wait in memory for the
	// write goroutine before they move to the spool (default 4).
	MemoryBatches int
	// SpoolDir holds the spool segments and the reject file.
	SpoolDir      string
	SpoolMaxBytes int64
	// WriteTimeout bounds one write request, QueryTimeout one query.
	WriteTimeout time.Duration
	QueryTimeout time.Duration
	// MaxRetryInterval caps the wait between write attempts while
	// InfluxDB is unreachable; the wait starts at a tenth of it.
	MaxRetryInterval time.Duration

	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Measurement == "" {
		o.Measurement = "fix"
	}
	if o.Org == "" {
		o.Org = "-"
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.MemoryBatches <= 0 {
		o.MemoryBatches = 4
	}
	if o.SpoolMaxBytes <= 0 {
		o.SpoolMaxBytes = 1 << 30
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 30 * time.Second
	}
	if o.MaxRetryInterval <= 0 {
		o.MaxRetryInterval = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// newClient returns an InfluxDB client whose own request timeout is a
// backstop behind the per-request contexts.
func newClient(o *Options) influxdb2.Client {
	timeout := max(o.WriteTimeout, o.QueryTimeout) + 5*time.Second
	opts := influxdb2.DefaultOptions().SetHTTPRequestTimeout(uint(timeout.Seconds())).SetLogLevel(0)
	return influxdb2.NewClientWithOptions(o.URL, o.Token, opts)
}

// batch is a run of encoded points written in one request.
type batch struct {
	body   []byte // line protocol, one point a line
	points int
	// minSeq is the lowest raw log seq of its fixes, 0 when none came
	// through the raw log.
	minSeq uint64
	// created is when its first point was queued.
	created time.Time
}

// Writer queues fixes for InfluxDB without blocking its callers, writes
// them in batches from one goroutine, and spools them to disk while
// InfluxDB cannot take them. The package documentation describes the
// guarantees.
type Writer struct {
	opts    Options
	log     *slog.Logger
	client  influxdb2.Client
	api     api.WriteAPIBlocking
	spool   *spool
	metrics *writerMetrics
	failLog *rate.Limiter

	// mu guards enc, open, queue, sending, spilling, deferredFrom and
	// closed. Lock order: Writer.mu, then spool.mu.
	mu       sync.Mutex
	enc      *pointEncoder
	open     *batch   // being filled; nil when there is none
	queue    []*batch // sealed, oldest first
	sending  *batch   // taken from queue by the write goroutine
	spilling []*batch // on their way from queue to the spool
	// deferredFrom is the lowest raw seq of a fix that neither InfluxDB
	// nor the spool took; 0 when there is none.
	deferredFrom uint64
	closed       bool

	outage      atomic.Bool
	senderWake  chan struct{}
	flusherWake chan struct{}
	sendCtx     context.Context
	cancelSend  context.CancelFunc
	stop        chan struct{}
	wg          sync.WaitGroup
	closeOnce   sync.Once
	closeErr    error
}

// NewWriter opens the spool and starts the write and flush goroutines.
// Batches left in the spool by an earlier run are written first.
func NewWriter(opts Options) (*Writer, error) {
	opts.setDefaults()
	if opts.URL == "" || opts.Bucket == "" || opts.SpoolDir == "" {
		return nil, errors.New("time series writer needs a URL, a bucket and a spool directory")
	}
	log := opts.Logger.With("component", "timeseries")
	sp, err := openSpool(opts.SpoolDir, opts.SpoolMaxBytes, log)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		opts:        opts,
		log:         log,
		client:      newClient(&opts),
		spool:       sp,
		failLog:     rate.NewLimiter(rate.Every(time.Minute), 1),
		enc:         newPointEncoder(opts.Measurement),
		senderWake:  make(chan struct{}, 1),
		flusherWake: make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	w.api = w.client.WriteAPIBlocking(opts.Org, opts.Bucket)
	w.metrics = newWriterMetrics(w)
	w.sendCtx, w.cancelSend = context.WithCancel(context.Background())
	w.wg.Add(2)
	go w.sendLoop()
	go w.flushLoop()
	log.Info("time series writer started", "url", opts.URL, "bucket", opts.Bucket, "measurement", opts.Measurement,
		"spool_dir", opts.SpoolDir, "spooled_batches", sp.stats().batches)
	return w, nil
}

// WriteFixes encodes fixes into the open batch and returns without
// waiting on the network or the disk. Safe for concurrent use.
func (w *Writer) WriteFixes(fixes []model.Fix) {
	if len(fixes) == 0 {
		return
	}
	now := time.Now()
	var encodeErr error
	var badPoints int

	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.metrics.pendingPoints.Add(int64(len(fixes)))
		w.deferBatches([]*batch{batchOfSeqs(fixes, now)}, errors.New("writer is closed"))
		return
	}
	sealed := false
	for i := range fixes {
		f := &fixes[i]
		if w.open == nil {
			w.open = &batch{created: now, body: make([]byte, 0, min(w.opts.BatchSize*200, 1<<20))}
		}
		body, err := w.enc.appendFix(w.open.body, f)
		if err != nil {
			encodeErr, badPoints = err, badPoints+1
			continue
		}
		w.open.body = body
		w.open.points++
		if f.RawSeq != 0 && (w.open.minSeq == 0 || f.RawSeq < w.open.minSeq) {
			w.open.minSeq = f.RawSeq
		}
		if w.open.points >= w.opts.BatchSize {
			w.queue = append(w.queue, w.open)
			w.open = nil
			sealed = true
		}
	}
	queued := len(w.queue)
	w.metrics.pendingPoints.Add(int64(len(fixes) - badPoints))
	w.mu.Unlock()

	if badPoints > 0 {
		// Decoding rejects such fixes, so this means a bug; the fixes
		// stay in the embedded store.
		w.metrics.pointsRejected.WithLabelValues(rejectEncode).Add(float64(badPoints))
		w.log.Error("fixes not written to InfluxDB: no line protocol form", "points", badPoints, "err", encodeErr)
	}
	if sealed {
		kick(w.senderWake)
		if queued > w.opts.MemoryBatches || w.outage.Load() {
			kick(w.flusherWake)
		}
	}
}

// batchOfSeqs returns an empty batch that carries the lowest raw seq and
// count of fixes, for fixes that cannot be queued.
func batchOfSeqs(fixes []model.Fix, now time.Time) *batch {
	b := &batch{created: now, points: len(fixes)}
	for i := range fixes {
		if s := fixes[i].RawSeq; s != 0 && (b.minSeq == 0 || s < b.minSeq) {
			b.minSeq = s
		}
	}
	return b
}

// PendingFrom returns the lowest raw log seq among the fixes that are
// neither written nor spooled, or 0 when there are none. The ingest
// pipeline keeps its recovery point below it.
func (w *Writer) PendingFrom() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	low := w.deferredFrom
	consider := func(b *batch) {
		if b != nil && b.minSeq != 0 && (low == 0 || b.minSeq < low) {
			low = b.minSeq
		}
	}
	consider(w.open)
	consider(w.sending)
	for _, b := range w.queue {
		consider(b)
	}
	for _, b := range w.spilling {
		consider(b)
	}
	return low
}

// Flush seals the open batch and returns once every batch in memory is
// written or spooled. It waits at most about twice WriteTimeout for
// InfluxDB and then spools what is left.
func (w *Writer) Flush() error {
	w.mu.Lock()
	w.sealLocked()
	w.mu.Unlock()
	kick(w.senderWake)

	if w.outage.Load() || w.spool.stats().batches > 0 {
		// Batches in memory would wait behind the spool anyway.
		w.spillQueue()
	}
	deadline := time.Now().Add(w.opts.WriteTimeout)
	spilled := false
	for {
		w.mu.Lock()
		empty := len(w.queue) == 0 && w.sending == nil && len(w.spilling) == 0
		w.mu.Unlock()
		if empty {
			return nil
		}
		now := time.Now()
		if now.After(deadline) {
			if spilled {
				return fmt.Errorf("flush time series writer: a write request is still running after %s", 2*w.opts.WriteTimeout)
			}
			w.spillQueue()
			spilled = true
			deadline = now.Add(w.opts.WriteTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sealLocked moves the open batch to the queue. w.mu must be held.
func (w *Writer) sealLocked() {
	if w.open != nil && w.open.points > 0 {
		w.queue = append(w.queue, w.open)
	}
	w.open = nil
}

// Close flushes, stops the goroutines, spools anything still in memory
// and closes the spool. Safe to call twice.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		var errs []error
		errs = append(errs, w.Flush())
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
		w.cancelSend()
		w.wg.Wait()

		w.mu.Lock()
		w.sealLocked()
		w.mu.Unlock()
		w.spillQueue()
		errs = append(errs, w.spool.close())
		w.client.Close()
		w.closeErr = errors.Join(errs...)
		st := w.spool.stats()
		w.log.Info("time series writer stopped", "spooled_batches", st.batches, "spooled_bytes", st.bytes, "err", w.closeErr)
	})
	return w.closeErr
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// flushLoop seals batches whose FlushInterval has passed and moves queued
// batches to the spool while InfluxDB is down or the queue is long.
func (w *Writer) flushLoop() {
	defer w.wg.Done()
	t := time.NewTicker(max(w.opts.FlushInterval/4, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-w.flusherWake:
		case <-w.stop:
			return
		}
		w.mu.Lock()
		if w.open != nil && time.Since(w.open.created) >= w.opts.FlushInterval {
			w.sealLocked()
			kick(w.senderWake)
		}
		queued := len(w.queue)
		w.mu.Unlock()
		if queued > 0 && (w.outage.Load() || queued > w.opts.MemoryBatches) {
			w.spillQueue()
		}
	}
}

// spillQueue moves every queued batch to the spool. While the spool
// append runs the batches stay visible to PendingFrom.
func (w *Writer) spillQueue() {
	w.mu.Lock()
	bs := w.queue
	w.queue = nil
	w.spilling = append(w.spilling, bs...)
	w.mu.Unlock()
	if len(bs) == 0 {
		return
	}
	w.spillBatches(bs)
	// Flush and the flush goroutine may spill at the same time, so only
	// this call's batches leave the list.
	w.mu.Lock()
	w.spilling = slices.DeleteFunc(w.spilling, func(b *batch) bool { return slices.Contains(bs, b) })
	w.mu.Unlock()
	kick(w.senderWake)
}

// spillBatches appends batches to the spool and defers those it cannot
// take. The caller keeps them visible to PendingFrom until it returns.
func (w *Writer) spillBatches(bs []*batch) {
	n, err := w.spool.append(bs)
	points := 0
	for _, b := range bs[:n] {
		points += b.points
	}
	w.metrics.pendingPoints.Add(-int64(points))
	if n < len(bs) {
		w.deferBatches(bs[n:], err)
	}
}

// deferBatches gives up on batches that neither InfluxDB nor the spool
// took. Their fixes are still in the raw log, so the recovery point is
// held before them and the next start writes them again.
func (w *Writer) deferBatches(bs []*batch, cause error) {
	points, lost := 0, 0
	w.mu.Lock()
	for _, b := range bs {
		if b.minSeq == 0 {
			lost += b.points
			continue
		}
		points += b.points
		if w.deferredFrom == 0 || b.minSeq < w.deferredFrom {
			w.deferredFrom = b.minSeq
		}
	}
	from := w.deferredFrom
	w.mu.Unlock()
	w.metrics.pendingPoints.Add(-int64(points + lost))
	w.metrics.pointsDeferred.Add(float64(points))
	w.metrics.pointsDropped.Add(float64(lost))
	w.log.Error("time series batches neither written nor spooled: their fixes stay in the raw log and are written to InfluxDB after the next start; if the spool is full, restore InfluxDB or raise timeseries.influxdb.spool_max_bytes",
		"points", points, "recovery_point_held_at_raw_seq", from, "spool_max_bytes", w.opts.SpoolMaxBytes, "err", cause)
	if lost > 0 {
		w.log.Error("fixes without a raw log record lost: neither InfluxDB nor the spool took them", "points", lost)
	}
}

// job is one batch for the write goroutine, from memory or the spool.
type job struct {
	body    []byte
	points  int
	created time.Time
	mem     *batch       // set when taken from memory
	rec     *spoolRecord // set when read from the spool
}

// sendLoop writes batches in order, the spool's before those in memory,
// and waits with exponential backoff while InfluxDB cannot take them.
func (w *Writer) sendLoop() {
	defer w.wg.Done()
	var retry time.Duration
	for {
		j, ok, err := w.nextJob()
		if err != nil {
			w.log.Error("time series spool unreadable", "err", err)
			if !w.sleep(w.opts.MaxRetryInterval) {
				return
			}
			continue
		}
		if !ok {
			select {
			case <-w.senderWake:
				continue
			case <-w.stop:
				return
			}
		}

		err = w.send(j)
		if err == nil {
			w.finish(j)
			retry = 0
			continue
		}
		class, status, retryAfter := classify(err)
		w.metrics.writeErrors.WithLabelValues(class.String()).Inc()
		if class == classRejected {
			if w.rejectJob(j, status, err) {
				continue
			}
		}
		w.retryLater(j, class, err)
		retry = nextRetry(retry, retryAfter, w.opts.MaxRetryInterval)
		if !w.sleep(retry) {
			return
		}
	}
}

func (w *Writer) nextJob() (job, bool, error) {
	rec, ok, err := w.spool.peek()
	if err != nil {
		return job{}, false, err
	}
	if ok {
		return job{body: rec.body, points: rec.points, created: rec.created, rec: &rec}, true, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return job{}, false, nil
	}
	b := w.queue[0]
	w.queue = w.queue[1:]
	w.sending = b
	return job{body: b.body, points: b.points, created: b.created, mem: b}, true, nil
}

func (w *Writer) send(j job) error {
	ctx, cancel := context.WithTimeout(w.sendCtx, w.opts.WriteTimeout)
	defer cancel()
	start := time.Now()
	err := w.api.WriteRecord(ctx, string(j.body))
	w.metrics.writeSeconds.Observe(time.Since(start).Seconds())
	return err
}

// finish records a written batch.
func (w *Writer) finish(j job) {
	w.metrics.pointsWritten.Add(float64(j.points))
	w.release(j)
	if w.outage.CompareAndSwap(true, false) {
		st := w.spool.stats()
		w.log.Info("InfluxDB writes resumed", "spooled_batches", st.batches, "spooled_bytes", st.bytes)
	}
}

// rejectJob stores a batch InfluxDB refused as bad data in the reject file
// and drops it from the queue. It returns false when the reject file
// cannot be written, so the batch is kept and tried again.
func (w *Writer) rejectJob(j job, status int, cause error) bool {
	if err := w.spool.reject(j.body, status, cause.Error(), time.Now()); err != nil {
		w.log.Error("batch rejected by InfluxDB could not be saved to the reject file; keeping it", "points", j.points, "err", err)
		return false
	}
	w.metrics.pointsRejected.WithLabelValues(rejectInfluxDB).Add(float64(j.points))
	w.log.Warn("InfluxDB rejected a batch as bad data; it is saved in the reject file and not retried",
		"points", j.points, "status", status, "err", cause, "file", filepath.Join(w.spool.dir, rejectFile))
	w.release(j)
	return true
}

// release removes a batch that needs no more writing from the spool or
// from memory.
func (w *Writer) release(j job) {
	if j.rec != nil {
		if err := w.spool.ack(*j.rec); err != nil {
			w.log.Error("time series spool position not saved; the batch may be written again", "err", err)
		}
		return
	}
	w.mu.Lock()
	w.sending = nil
	w.mu.Unlock()
	w.metrics.pendingPoints.Add(-int64(j.points))
}

// retryLater handles a write that failed for a reason that may pass: a
// batch from memory moves to the spool, one from the spool stays at its
// head, and the flush goroutine spools the queue until a write succeeds.
func (w *Writer) retryLater(j job, class errorClass, cause error) {
	stopping := w.sendCtx.Err() != nil
	if !w.outage.Swap(true) && !stopping {
		w.log.Warn("InfluxDB write failed; spooling batches to disk until a write succeeds", "class", class.String(), "err", cause)
		w.failLog.Allow() // the next reminder comes a minute later
	} else if !stopping && w.failLog.Allow() {
		st := w.spool.stats()
		w.log.Warn("InfluxDB still not taking writes", "class", class.String(), "spooled_batches", st.batches, "spooled_bytes", st.bytes, "err", cause)
	}
	if j.mem != nil {
		w.spillBatches([]*batch{j.mem})
		w.mu.Lock()
		w.sending = nil
		w.mu.Unlock()
	}
	kick(w.flusherWake)
}

// sleep waits d or until Close; it returns false on Close.
func (w *Writer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.stop:
		return false
	}
}

// nextRetry doubles the wait from a tenth of maxWait up to maxWait, or
// takes the server's Retry-After when it is longer.
func nextRetry(prev, retryAfter, maxWait time.Duration) time.Duration {
	next := max(prev*2, maxWait/10)
	next = min(next, maxWait)
	return max(next, retryAfter)
}
