package ingest

import (
	"fmt"
	"time"

	"github.com/valyala/fastjson"

	"github.com/hwtrack/hwtrack/model"
)

// Defaults of Limits.
const (
	DefaultMaxPayloadBytes = 256 << 10
	DefaultMaxBatch        = 1000
	DefaultMaxFutureSkew   = 5 * time.Minute
)

// DefaultMinTime is the earliest fix time accepted by default. A GNSS
// receiver whose week number wrapped, or whose clock starts from the GPS
// epoch (1980-01-06) after a cold start, reports dates before it.
var DefaultMinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Limits bounds what the decoders accept. A zero or negative field takes
// its default, so Limits{} behaves like DefaultLimits().
type Limits struct {
	// MaxPayloadBytes is the largest payload decoded at all.
	MaxPayloadBytes int
	// MaxBatch is the largest number of fix objects in one batch.
	MaxBatch int
	// MaxFutureSkew is how far a fix time may lie after the receive time,
	// to allow for the unit's clock running ahead.
	MaxFutureSkew time.Duration
	// MinTime is the earliest fix time accepted.
	MinTime time.Time
	// MaxAge, when positive, rejects fixes older than the receive time
	// minus MaxAge. Zero disables the check, because replayed historical
	// tracks are legitimate input. It applies after the GNSS week-rollover
	// correction, so it catches other clock faults, such as a unit stuck
	// years in the past.
	MaxAge time.Duration
}

// DefaultLimits returns the limits the server uses unless configured
// otherwise.
func DefaultLimits() Limits {
	return Limits{
		MaxPayloadBytes: DefaultMaxPayloadBytes,
		MaxBatch:        DefaultMaxBatch,
		MaxFutureSkew:   DefaultMaxFutureSkew,
		MinTime:         DefaultMinTime,
	}
}

func (l Limits) withDefaults() Limits {
	if l.MaxPayloadBytes <= 0 {
		l.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if l.MaxBatch <= 0 {
		l.MaxBatch = DefaultMaxBatch
	}
	if l.MaxFutureSkew <= 0 {
		l.MaxFutureSkew = DefaultMaxFutureSkew
	}
	if l.MinTime.IsZero() {
		l.MinTime = DefaultMinTime
	}
	if l.MaxAge < 0 {
		l.MaxAge = 0
	}
	return l
}

// Result is the outcome of decoding one MQTT message. A message can both
// yield fixes and rejections: in a batch each bad element is rejected on
// its own and the good ones are kept.
type Result struct {
	// Fixes are the accepted fixes in payload order, with Time and
	// ReceivedAt in UTC. Ordering by fix time is the caller's job.
	Fixes []model.Fix
	// Rejects lists every problem that cost a fix or the whole payload;
	// see RejectError.
	Rejects []*RejectError
	// Dropped lists the optional measurement fields (alt, speed, heading,
	// sats, hdop, accuracy, odometer; OwnTracks acc, alt, vel, cog) left
	// out of fixes that were accepted without them, each with its reason.
	// It also lists fix times corrected for a GNSS week rollover, with
	// ReasonTimeCorrected.
	Dropped []*RejectError
	// Ignored is the OwnTracks message type of a well-formed message that
	// carries no position, such as "lwt" or "transition". Types outside
	// the published OwnTracks set are reported as "other", so the value is
	// safe to use as a metric label. It is always empty for DecodeFix.
	Ignored string
}

var parsers fastjson.ParserPool

// parsePayload checks the payload size and JSON syntax and returns the
// parsed document. The returned value lives in p's memory. On failure it
// records one payload-level rejection in res and returns nil.
func parsePayload(p *fastjson.Parser, payload []byte, lim Limits, res *Result) *fastjson.Value {
	if len(payload) > lim.MaxPayloadBytes {
		res.Rejects = append(res.Rejects, &RejectError{
			Reason: ReasonPayloadTooLarge,
			Index:  -1,
			Message: fmt.Sprintf("payload of %d bytes exceeds the maximum of %d bytes; split it into smaller batches",
				len(payload), lim.MaxPayloadBytes),
		})
		return nil
	}

	// fastjson's parser limits nesting depth but accepts some non-JSON
	// such as bare NaN or numbers with leading zeros. Its validator is
	// strict but has no depth limit, so it runs second, on a document the
	// parser already bounded.
	v, err := p.ParseBytes(payload)
	if err == nil {
		err = fastjson.ValidateBytes(payload)
	}
	if err != nil {
		res.Rejects = append(res.Rejects, &RejectError{
			Reason:  ReasonMalformedJSON,
			Index:   -1,
			Message: "payload is not valid JSON: " + err.Error(),
		})
		return nil
	}
	return v
}

// DecodeFix decodes the payload of a message on hwt/v1/{terminal}/fix:
// one fix object, or a JSON array of them. receivedAt is the server's
// receive time; it is copied into every fix and is the reference for the
// future-time check, so it must be set. DecodeFix is safe for concurrent
// use and does not retain payload.
func DecodeFix(terminal string, payload []byte, receivedAt time.Time, lim Limits) Result {
	lim = lim.withDefaults()
	// The result lives inside the decoder by value, not behind a pointer,
	// so the compiler can keep it off the heap.
	d := fixDecoder{
		terminal:   terminal,
		receivedAt: receivedAt.UTC(),
		lim:        lim,
	}
	d.rules = newTimeRules(lim, d.receivedAt)

	p := parsers.Get()
	defer parsers.Put(p)

	v := parsePayload(p, payload, lim, &d.res)
	if v == nil {
		return d.res
	}

	switch v.Type() {
	case fastjson.TypeObject:
		d.res.Fixes = make([]model.Fix, 0, 1)
		d.decodeObject(v, -1)

	case fastjson.TypeArray:
		elems, _ := v.Array()
		if len(elems) == 0 {
			d.res.Rejects = append(d.res.Rejects, &RejectError{
				Reason:  ReasonEmptyBatch,
				Index:   -1,
				Message: "batch is an empty array; send at least one fix object",
			})
			return d.res
		}
		if len(elems) > lim.MaxBatch {
			d.res.Rejects = append(d.res.Rejects, &RejectError{
				Reason: ReasonBatchTooLarge,
				Index:  -1,
				Message: fmt.Sprintf("batch of %d fixes exceeds the maximum of %d; split it into smaller batches",
					len(elems), lim.MaxBatch),
			})
			return d.res
		}

		d.res.Fixes = make([]model.Fix, 0, len(elems))
		for i, elem := range elems {
			if elem.Type() != fastjson.TypeObject {
				d.res.Rejects = append(d.res.Rejects, &RejectError{
					Reason:  ReasonNotObject,
					Index:   i,
					Message: "batch element is " + describe(elem) + ", expected a fix object",
				})
				continue
			}
			d.decodeObject(elem, i)
		}

	default:
		d.res.Rejects = append(d.res.Rejects, &RejectError{
			Reason:  ReasonNotObject,
			Index:   -1,
			Message: "payload is " + describe(v) + ", expected a fix object or an array of fix objects",
		})
	}
	return d.res
}
