package ingest

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/hwtrack/hwtrack/broker"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/storage"
)

// RawLog is the durable, append-only record of every message.
type RawLog interface {
	// AppendRawAsync calls done from a single writer goroutine once rec is
	// on disk, in sequence order across all callers.
	AppendRawAsync(rec *storage.RawRecord, done func(seq uint64, err error))
	ReplayRaw(afterSeq uint64, fn func(storage.RawRecord) error) error
}

// FixStore records decoded fixes and the pipeline's recovery state.
type FixStore interface {
	PutFixes(fixes []model.Fix, appliedRawSeq uint64) (stored, duplicates int, err error)
	PutState(key string, value []byte) error
	State(key string) ([]byte, bool, error)
}

// Engine evaluates fixes of one vehicle in fix-time order and keeps
// per-vehicle state that can be saved and restored.
type Engine interface {
	Process(f *model.Fix) []model.Deviation
	MarshalState(terminal string) ([]byte, error)
	RestoreState(terminal string, b []byte) error
}

// SeriesWriter copies stored fixes to an external time-series database.
//
// The pipeline hands it fixes before it counts them as processed, and
// keeps the recovery point below PendingFrom. So after a crash the raw log
// is replayed from before any fix the writer held only in memory, and
// those fixes reach it again. The writer keeps no write-ahead log of its
// own, because the raw log already holds every fix durably. It only has to
// report what is not yet safe.
type SeriesWriter interface {
	// WriteFixes queues fixes and returns without waiting on the network.
	WriteFixes(fixes []model.Fix)
	// PendingFrom returns the lowest raw seq among the fixes not yet
	// written or durably queued, or 0 when there are none.
	PendingFrom() uint64
	// Flush returns once every queued fix is written or durably queued.
	Flush() error
}

// DeviationSink receives the deviation transitions a vehicle's fixes caused,
// on the vehicle's worker goroutine.
type DeviationSink interface {
	HandleDeviations(terminal string, ds []model.Deviation)
}

// PipelineOptions wires a Pipeline.
type PipelineOptions struct {
	Raw    RawLog
	Store  FixStore
	Engine Engine
	Sink   DeviationSink
	// Reply publishes a rejection notice to a vehicle; nil disables replies.
	Reply func(topic string, payload []byte) error
	// OnFixes, when set, receives every stored batch of a vehicle's fixes in
	// fix-time order (the live feed).
	OnFixes func(terminal string, fixes []model.Fix)
	// Series, when set, receives every stored fix, duplicates included, so
	// a fix replayed after a crash reaches it again.
	Series SeriesWriter
	Limits Limits
	// Workers is the number of vehicle shards; each vehicle always goes to
	// the same worker so its fixes are evaluated in order.
	Workers int
	// QueueLen bounds each worker's queue; a full queue slows the raw log
	// writer and so the PUBACKs, which throttles publishers instead of
	// dropping data.
	QueueLen int
	// CheckpointEvery is how often engine state and the recovery point are
	// saved.
	CheckpointEvery time.Duration
	Logger          *slog.Logger
}

const (
	stateRecoverySeq  = "pipeline/recovery_seq"
	stateEnginePrefix = "engine/"
)

// Pipeline takes each MQTT publish from the broker, records it in the raw
// log, decodes it, and hands the fixes to one worker per vehicle shard,
// which evaluates them and stores them.
//
// Lock order: Pipeline.mu, then shard.mu.
type Pipeline struct {
	opts    PipelineOptions
	log     *slog.Logger
	metrics *pipelineMetrics
	seed    maphash.Seed
	shards  []*shard

	// mu guards lastDispatched, the highest raw seq handed to shards or
	// found to carry no fixes.
	mu             sync.Mutex
	lastDispatched uint64

	rejectLog  *rate.Limiter
	suppressed atomic.Int64

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type batch struct {
	seq      uint64
	terminal string
	fixes    []model.Fix
	// synced, when set, marks a barrier queued by Sync and not a message:
	// the worker closes it once everything queued before it is stored.
	synced chan struct{}
}

type shard struct {
	queue chan batch

	// mu guards inflight (raw seqs queued or being processed, oldest first),
	// failedAt (the first seq whose fixes could not be stored; the recovery
	// point never passes it) and dirty (vehicles whose engine state changed
	// since the last checkpoint).
	mu       sync.Mutex
	inflight []uint64
	failedAt uint64
	dirty    map[string]struct{}
}

// NewPipeline starts the workers.
func NewPipeline(opts PipelineOptions) (*Pipeline, error) {
	if opts.Raw == nil || opts.Store == nil || opts.Engine == nil || opts.Sink == nil {
		return nil, errors.New("pipeline needs a raw log, a store, an engine and a deviation sink")
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 4096
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 2 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Pipeline{
		opts:      opts,
		log:       log.With("component", "ingest"),
		metrics:   newPipelineMetrics(),
		seed:      maphash.MakeSeed(),
		rejectLog: rate.NewLimiter(rate.Limit(5), 20),
		stop:      make(chan struct{}),
	}
	for range opts.Workers {
		s := &shard{queue: make(chan batch, opts.QueueLen), dirty: map[string]struct{}{}}
		p.shards = append(p.shards, s)
	}
	p.metrics.queueDepth = p.queueDepth
	for _, s := range p.shards {
		p.wg.Add(1)
		go p.work(s)
	}
	return p, nil
}

// Recover restores engine state for the given vehicles and re-derives
// everything the raw log holds past the last checkpoint. Call it before the
// broker accepts connections.
func (p *Pipeline) Recover(terminals []string) (replayed int, err error) {
	for _, t := range terminals {
		b, ok, err := p.opts.Store.State(stateEnginePrefix + t)
		if err != nil {
			return 0, fmt.Errorf("read engine state of %s: %w", t, err)
		}
		if !ok {
			continue
		}
		if err := p.opts.Engine.RestoreState(t, b); err != nil {
			// A state that cannot be read is rebuilt from new fixes;
			// refusing to start would lose more than it protects.
			p.log.Warn("engine state not restored", "vehicle_id", t, "err", err)
		}
	}

	from, err := p.recoverySeq()
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	p.lastDispatched = from
	p.mu.Unlock()

	err = p.opts.Raw.ReplayRaw(from, func(rec storage.RawRecord) error {
		msg := broker.Message{
			ClientID: rec.ClientID, Terminal: rec.Username, Topic: rec.Topic,
			QoS: rec.QoS, Retain: rec.Retain, Payload: rec.Payload, ReceivedAt: rec.ReceivedAt,
		}
		res := p.decode(msg)
		p.dispatch(rec.Seq, msg.Terminal, res.Fixes)
		replayed++
		return nil
	})
	if err != nil {
		return replayed, fmt.Errorf("replay raw log after seq %d: %w", from, err)
	}
	p.Drain()
	if replayed > 0 {
		p.log.Info("raw log replayed", "after_seq", from, "records", replayed)
	}
	return replayed, p.Checkpoint()
}

func (p *Pipeline) recoverySeq() (uint64, error) {
	b, ok, err := p.opts.Store.State(stateRecoverySeq)
	if err != nil {
		return 0, fmt.Errorf("read recovery point: %w", err)
	}
	if !ok {
		return 0, nil
	}
	var seq uint64
	if _, err := fmt.Sscan(string(b), &seq); err != nil {
		return 0, fmt.Errorf("read recovery point %q: %w", b, err)
	}
	return seq, nil
}

// HandlePublish implements broker.Handler. It returns once the message is
// on disk for QoS 1 and 2, so the PUBACK follows the fsync; a QoS 0 message
// is queued for the same append without waiting.
func (p *Pipeline) HandlePublish(msg broker.Message) error {
	if msg.QoS == 0 {
		p.Record(msg, nil)
		return nil
	}
	done := make(chan error, 1)
	p.Record(msg, func(err error) { done <- err })
	if err := <-done; err != nil {
		return fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
	}
	return nil
}

// Record decodes msg, counts it, queues it for the raw log and returns
// without waiting. Once the record is on disk, its fixes are handed to the
// vehicle's worker and done, when not nil, is called with nil. When the
// record cannot be written, done gets the error and the fixes are dropped,
// so the sender must keep the message and send it again. done runs on the
// raw log's writer goroutine and must not block.
func (p *Pipeline) Record(msg broker.Message, done func(error)) {
	res := p.decode(msg)
	p.account(msg, &res)

	rec := &storage.RawRecord{
		ReceivedAt: msg.ReceivedAt, ClientID: msg.ClientID, Username: msg.Terminal,
		Topic: msg.Topic, QoS: msg.QoS, Retain: msg.Retain, Payload: msg.Payload,
	}
	fixes := res.Fixes
	p.opts.Raw.AppendRawAsync(rec, func(seq uint64, err error) {
		if err == nil {
			p.dispatch(seq, msg.Terminal, fixes)
		}
		if done != nil {
			done(err)
		}
	})

	if len(res.Rejects) > 0 || len(res.Dropped) > 0 {
		p.reply(msg.Terminal, res.Rejects, res.Dropped)
	}
}

// decode turns a message into fixes according to its topic. Messages that
// carry no fixes (status, unknown subtopics) decode to an empty result and
// are kept in the raw log only.
func (p *Pipeline) decode(msg broker.Message) Result {
	switch {
	case msg.Topic == broker.FixTopic(msg.Terminal):
		return DecodeFix(msg.Terminal, msg.Payload, msg.ReceivedAt, p.opts.Limits)
	case isOwnTracksTopic(msg.Topic, msg.Terminal):
		return DecodeOwnTracks(msg.Terminal, msg.Payload, msg.ReceivedAt, p.opts.Limits)
	default:
		return Result{}
	}
}

// account counts and logs what a live message produced.
func (p *Pipeline) account(msg broker.Message, res *Result) {
	p.metrics.messages.Inc()
	p.metrics.fixesAccepted.Add(float64(len(res.Fixes)))
	for _, r := range res.Rejects {
		p.metrics.rejected.WithLabelValues(r.Reason.String()).Inc()
	}
	for _, r := range res.Dropped {
		p.metrics.dropped.WithLabelValues(r.Field, r.Reason.String()).Inc()
	}
	if len(res.Rejects) == 0 && len(res.Dropped) == 0 {
		return
	}
	if !p.rejectLog.Allow() {
		p.suppressed.Add(1)
		return
	}
	if len(res.Rejects) == 0 {
		first := res.Dropped[0]
		p.log.Warn("fix fields dropped",
			"vehicle_id", msg.Terminal, "topic", msg.Topic, "dropped", len(res.Dropped),
			"accepted", len(res.Fixes), "field", first.Field, "reason", first.Reason.String(), "message", first.Message,
			"similar_suppressed", p.suppressed.Swap(0))
		return
	}
	first := res.Rejects[0]
	p.log.Warn("payload rejected",
		"vehicle_id", msg.Terminal, "topic", msg.Topic, "rejected", len(res.Rejects),
		"accepted", len(res.Fixes), "dropped", len(res.Dropped), "reason", first.Reason.String(), "err", first,
		"similar_suppressed", p.suppressed.Swap(0))
}

func (p *Pipeline) reply(terminal string, rejects, dropped []*RejectError) {
	if p.opts.Reply == nil {
		return
	}
	if err := p.opts.Reply(broker.ErrorTopic(terminal), ReplyPayload(rejects, dropped)); err != nil {
		p.metrics.noticeErrors.Inc()
		p.log.Debug("rejection notice not published", "vehicle_id", terminal, "err", err)
	}
}

// dispatch hands a durable message's fixes to its vehicle's worker. The raw
// log calls it in sequence order, which keeps each vehicle's messages in
// the order they were received.
func (p *Pipeline) dispatch(seq uint64, terminal string, fixes []model.Fix) {
	for i := range fixes {
		fixes[i].RawSeq = seq
	}
	s := p.shardOf(terminal)

	// The seq joins the shard's inflight list under the same lock that
	// raises lastDispatched, so Watermark never sees it dispatched but not
	// yet pending.
	p.mu.Lock()
	if seq > p.lastDispatched {
		p.lastDispatched = seq
	}
	if len(fixes) > 0 {
		s.mu.Lock()
		s.inflight = append(s.inflight, seq)
		s.mu.Unlock()
	}
	p.mu.Unlock()

	if len(fixes) > 0 {
		s.queue <- batch{seq: seq, terminal: terminal, fixes: fixes}
	}
}

// Watermark returns the highest raw seq up to which every message has been
// evaluated and stored, and handed to the series writer, if any, durably.
func (p *Pipeline) Watermark() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.lastDispatched
	for _, s := range p.shards {
		s.mu.Lock()
		if len(s.inflight) > 0 && s.inflight[0]-1 < w {
			w = s.inflight[0] - 1
		}
		if s.failedAt != 0 && s.failedAt-1 < w {
			w = s.failedAt - 1
		}
		s.mu.Unlock()
	}
	// Read after the shards: process hands fixes to the writer before it
	// drops their seq from inflight, so each seq is seen in one place or
	// the other, or is already durable.
	if p.opts.Series != nil {
		if from := p.opts.Series.PendingFrom(); from != 0 && from-1 < w {
			w = from - 1
		}
	}
	return w
}

// maxDrain caps how many queued messages a worker stores in one write.
const maxDrain = 256

func (p *Pipeline) work(s *shard) {
	defer p.wg.Done()
	pending := make([]batch, 0, maxDrain)
	var barriers []chan struct{}
	take := func(b batch) {
		if b.synced != nil {
			barriers = append(barriers, b.synced)
			return
		}
		pending = append(pending, b)
	}
	for {
		select {
		case b := <-s.queue:
			pending, barriers = pending[:0], barriers[:0]
			take(b)
		drain:
			for len(pending) < maxDrain {
				select {
				case b := <-s.queue:
					take(b)
				default:
					break drain
				}
			}
			if len(pending) > 0 {
				p.process(s, pending)
			}
			for _, c := range barriers {
				close(c)
			}
		case <-p.stop:
			return
		}
	}
}

// process evaluates and stores a run of messages taken from one shard's
// queue.
func (p *Pipeline) process(s *shard, run []batch) {
	start := time.Now()
	var all []model.Fix
	for i := range run {
		b := &run[i]
		// A batch arrives in any order; the engine needs fix-time order.
		sort.SliceStable(b.fixes, func(i, j int) bool { return b.fixes[i].Time.Before(b.fixes[j].Time) })
		var devs []model.Deviation
		for j := range b.fixes {
			devs = append(devs, p.opts.Engine.Process(&b.fixes[j])...)
		}
		if len(devs) > 0 {
			p.opts.Sink.HandleDeviations(b.terminal, devs)
		}
		all = append(all, b.fixes...)
	}

	stored, dups, err := p.opts.Store.PutFixes(all, 0)
	p.metrics.storeLatency.Observe(time.Since(start).Seconds())
	p.metrics.fixesStored.Add(float64(stored))
	p.metrics.duplicates.Add(float64(dups))
	if err == nil && p.opts.Series != nil {
		p.opts.Series.WriteFixes(all)
	}

	s.mu.Lock()
	if err != nil && s.failedAt == 0 {
		s.failedAt = run[0].seq
	}
	for _, b := range run {
		s.dirty[b.terminal] = struct{}{}
	}
	s.inflight = s.inflight[len(run):]
	s.mu.Unlock()

	if err != nil {
		// The raw log holds these messages and the recovery point stays
		// before them, so a restart derives them again.
		p.log.Error("fixes not stored; they will be re-derived from the raw log on restart", "messages", len(run), "first_seq", run[0].seq, "err", err)
		return
	}
	if p.opts.OnFixes != nil {
		for _, b := range run {
			p.opts.OnFixes(b.terminal, b.fixes)
		}
	}
}

// MarkDirty makes the next checkpoint save terminal's engine state. The
// workers mark the vehicles whose fixes they evaluated. A caller that
// changes a vehicle's state outside them, such as the timer that opens a
// live signal loss, marks it here, so a crash does not lose the change.
func (p *Pipeline) MarkDirty(terminal string) {
	s := p.shards[maphash.String(p.seed, terminal)%uint64(len(p.shards))]
	s.mu.Lock()
	s.dirty[terminal] = struct{}{}
	s.mu.Unlock()
}

// Checkpoint saves the engine state of every vehicle changed since the last
// checkpoint, then the recovery point. The watermark is taken first, so the
// saved state covers at least everything up to it; replaying from it after
// a crash may show the engine fixes it has seen, which it ignores.
func (p *Pipeline) Checkpoint() error {
	w := p.Watermark()
	var errs []error
	for _, s := range p.shards {
		s.mu.Lock()
		dirty := s.dirty
		s.dirty = map[string]struct{}{}
		s.mu.Unlock()
		for t := range dirty {
			b, err := p.opts.Engine.MarshalState(t)
			if err == nil {
				err = p.opts.Store.PutState(stateEnginePrefix+t, b)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("save engine state of %s: %w", t, err))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := p.opts.Store.PutState(stateRecoverySeq, fmt.Appendf(nil, "%d", w)); err != nil {
		return fmt.Errorf("save recovery point: %w", err)
	}
	return nil
}

// RunCheckpoints saves a checkpoint every CheckpointEvery until Close.
func (p *Pipeline) RunCheckpoints() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(p.opts.CheckpointEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := p.Checkpoint(); err != nil {
					p.log.Error("checkpoint failed", "err", err)
				}
			case <-p.stop:
				return
			}
		}
	}()
}

// Drain waits until every dispatched message has been processed.
func (p *Pipeline) Drain() {
	for {
		busy := false
		for _, s := range p.shards {
			s.mu.Lock()
			busy = busy || len(s.inflight) > 0
			s.mu.Unlock()
		}
		if !busy {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (p *Pipeline) queueDepth() float64 {
	n := 0
	for _, s := range p.shards {
		n += len(s.queue)
	}
	return float64(n)
}

// Close drains the queues, flushes the series writer, saves a final
// checkpoint and stops the workers. The broker must be closed first so
// nothing new arrives. Safe to call twice.
func (p *Pipeline) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.Drain()
		if p.opts.Series != nil {
			if ferr := p.opts.Series.Flush(); ferr != nil {
				// The checkpoint below stays before the unflushed fixes, so
				// the next start replays them from the raw log.
				p.log.Error("time series writer not flushed; its fixes will be replayed from the raw log on the next start", "err", ferr)
			}
		}
		err = p.Checkpoint()
		close(p.stop)
		p.wg.Wait()
	})
	return err
}

// isOwnTracksTopic reports whether topic is owntracks/{terminal}/{device},
// the only OwnTracks topic form that carries a vehicle's locations.
func isOwnTracksTopic(topic, terminal string) bool {
	rest, ok := strings.CutPrefix(topic, "owntracks/"+terminal+"/")
	return ok && rest != "" && !strings.Contains(rest, "/")
}
