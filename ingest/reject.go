package ingest

import (
	"encoding/json"
	"strconv"
)

// Reason classifies why a payload or one fix in it was rejected. Its
// String form is a stable snake_case label, used as the "reason" field of
// the error payload sent back to the vehicle and as a Prometheus label
// value, so existing labels must never be renamed.
type Reason uint8

const (
	ReasonUnknown Reason = iota
	// ReasonMalformedJSON is a payload that is not valid JSON (RFC 8259).
	ReasonMalformedJSON
	// ReasonNotObject is a payload, or a batch element, that is valid JSON
	// but not an object.
	ReasonNotObject
	// ReasonMissingField is a required field that is absent or null.
	ReasonMissingField
	// ReasonWrongType is a field of the wrong JSON type, such as a number
	// sent as a string, or a fractional value for an integer field.
	ReasonWrongType
	// ReasonOutOfRange is a number outside the range the protocol allows.
	ReasonOutOfRange
	// ReasonNotFinite is a number too large for a float64, such as 1e400.
	ReasonNotFinite
	// ReasonBadTime is a time that is neither RFC 3339 with a UTC offset
	// nor a Unix timestamp of the expected unit.
	ReasonBadTime
	// ReasonFutureTime is a fix time later than the receive time plus the
	// allowed clock skew.
	ReasonFutureTime
	// ReasonTooOld is a fix time before Limits.MinTime, or older than
	// Limits.MaxAge when that is set.
	ReasonTooOld
	// ReasonBatchTooLarge is a batch with more elements than Limits.MaxBatch.
	ReasonBatchTooLarge
	// ReasonEmptyBatch is a batch with no elements.
	ReasonEmptyBatch
	// ReasonPayloadTooLarge is a payload longer than Limits.MaxPayloadBytes.
	ReasonPayloadTooLarge
	// ReasonUnsupportedCRS is a crs value other than wgs84, gcj02 or bd09.
	ReasonUnsupportedCRS
	// ReasonInvalidValue is a string field whose value is not one of the
	// allowed names, such as an unknown source.
	ReasonInvalidValue
	// ReasonDuplicateField is a field that appears twice in one object.
	ReasonDuplicateField
	// ReasonTimeCorrected is a fix time moved forward by whole GPS
	// week-number rollovers (1024 weeks each). It appears only in
	// Result.Dropped: the fix is kept with the corrected time.
	ReasonTimeCorrected

	reasonCount // must stay last
)

var reasonNames = [...]string{
	ReasonUnknown:         "unknown",
	ReasonMalformedJSON:   "malformed_json",
	ReasonNotObject:       "not_object",
	ReasonMissingField:    "missing_field",
	ReasonWrongType:       "wrong_type",
	ReasonOutOfRange:      "out_of_range",
	ReasonNotFinite:       "not_finite",
	ReasonBadTime:         "bad_time",
	ReasonFutureTime:      "future_time",
	ReasonTooOld:          "too_old",
	ReasonBatchTooLarge:   "batch_too_large",
	ReasonEmptyBatch:      "empty_batch",
	ReasonPayloadTooLarge: "payload_too_large",
	ReasonUnsupportedCRS:  "unsupported_crs",
	ReasonInvalidValue:    "invalid_value",
	ReasonDuplicateField:  "duplicate_field",
	ReasonTimeCorrected:   "time_corrected",
}

// String returns the stable snake_case label of r.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return reasonNames[ReasonUnknown]
}

// Reasons returns every known reason except ReasonUnknown, in declaration
// order, so a metrics collector can create all label values up front.
func Reasons() []Reason {
	out := make([]Reason, 0, reasonCount-1)
	for r := ReasonUnknown + 1; r < reasonCount; r++ {
		out = append(out, r)
	}
	return out
}

// RejectError describes one rejected payload or one rejected fix inside a
// batch. A fix with several bad fields yields one RejectError per field,
// all with the same Index.
type RejectError struct {
	Reason Reason
	// Index is the position of the rejected element in a batch, or -1 when
	// the payload was a single object or was rejected as a whole.
	Index int
	// Field is the JSON field at fault, or empty when the problem concerns
	// the whole payload or element.
	Field string
	// Message is a plain English explanation that names the value and the
	// allowed range.
	Message string
	// Seq is the unit's message counter of the rejected fix, valid when
	// HasSeq is set, so the unit can tell which fix to correct.
	Seq    uint64
	HasSeq bool
}

func (e *RejectError) Error() string {
	prefix := "rejected payload: "
	if e.Index >= 0 {
		prefix = "rejected batch element " + strconv.Itoa(e.Index) + ": "
	}
	return prefix + e.Message + " (" + e.Reason.String() + ")"
}

// maxErrorEntries caps the entries of one error payload, so a large batch
// of bad fixes does not produce a reply larger than the request.
const maxErrorEntries = 100

type errorEntry struct {
	Index   int     `json:"index"`
	Field   string  `json:"field,omitempty"`
	Reason  string  `json:"reason"`
	Message string  `json:"message"`
	Seq     *uint64 `json:"seq,omitempty"`
}

type errorDocument struct {
	RawSeq   *uint64      `json:"raw_seq,omitempty"`
	Rejected []errorEntry `json:"rejected"`
	// Dropped lists optional fields left out of fixes that were kept.
	Dropped []errorEntry `json:"dropped,omitempty"`
	// Omitted counts the entries left out beyond maxErrorEntries.
	Omitted int `json:"omitted,omitempty"`
}

// ErrorPayload encodes rejects as the JSON document published to the
// vehicle on hwt/v1/{terminal}/error, for example
//
//	{"rejected":[{"index":2,"field":"lat","reason":"out_of_range","message":"lat 121.47 is outside -90..90; coordinates may be swapped"}]}
//
// rawSeq, when given, is the raw log sequence number of the rejected
// message and is written as "raw_seq", so an operator can find the
// original bytes. Only the first value is used. At most 100 entries are
// written, and "omitted" counts the rest.
func ErrorPayload(rejects []*RejectError, rawSeq ...uint64) []byte {
	doc := errorDocument{}
	if len(rawSeq) > 0 {
		doc.RawSeq = &rawSeq[0]
	}
	return encodeErrors(&doc, rejects, nil)
}

// ReplyPayload is ErrorPayload with the optional fields dropped from
// accepted fixes listed under "dropped", for example
//
//	{"rejected":[],"dropped":[{"index":-1,"field":"alt","reason":"out_of_range","message":"alt -840 is outside -500..9000","seq":12}]}
//
// The 100 entries are shared, rejections first.
func ReplyPayload(rejects, dropped []*RejectError) []byte {
	return encodeErrors(&errorDocument{}, rejects, dropped)
}

func encodeErrors(doc *errorDocument, rejects, dropped []*RejectError) []byte {
	doc.Rejected = appendEntries(doc, make([]errorEntry, 0, min(len(rejects), maxErrorEntries)), rejects)
	if len(dropped) > 0 {
		doc.Dropped = appendEntries(doc, nil, dropped)
	}

	// The document holds only strings, integers and slices of them, so
	// encoding/json does not fail on it. The fallback keeps the reply valid
	// JSON should that ever change.
	out, err := json.Marshal(doc)
	if err != nil {
		return []byte(`{"rejected":[]}`)
	}
	return out
}

// appendEntries appends errs to list while the document holds fewer than
// maxErrorEntries entries, and counts the rest in doc.Omitted.
func appendEntries(doc *errorDocument, list []errorEntry, errs []*RejectError) []errorEntry {
	for _, r := range errs {
		if r == nil {
			continue
		}
		if len(doc.Rejected)+len(doc.Dropped)+len(list) >= maxErrorEntries {
			doc.Omitted++
			continue
		}
		entry := errorEntry{
			Index:   r.Index,
			Field:   r.Field,
			Reason:  r.Reason.String(),
			Message: r.Message,
		}
		if r.HasSeq {
			seq := r.Seq
			entry.Seq = &seq
		}
		list = append(list, entry)
	}
	return list
}
