// Package ingest turns vehicle MQTT payloads into validated model.Fix
// values.
//
// DecodeFix handles hwt/v1/{terminal}/fix (one fix object or a batch
// array) and DecodeOwnTracks handles owntracks/{user}/{device}. Both are
// pure functions of their input: they keep no state, start no goroutine and
// do no I/O, so the wiring that orders fixes per vehicle can call them from
// any goroutine, and they can be fuzzed and benchmarked alone. Every
// problem is returned as a RejectError with a stable Reason label;
// ErrorPayload encodes those for the reply on hwt/v1/{terminal}/error. The
// wire format is specified in docs/protocol.md.
//
// # Parser choice
//
// The decoders use github.com/valyala/fastjson rather than encoding/json,
// for two reasons.
//
// Exact types: fastjson exposes the JSON type of every value, so "12.5"
// (a string) for a number, 11.5 for sats, or 1 for a boolean are each
// rejected with the field named. Decoding into a Go struct with
// encoding/json reports only the first such error for the whole object,
// and unmarshalling into float64 cannot tell a missing field from zero
// without pointer fields.
//
// Speed: the decoder runs once per MQTT message. With
// `go test -run XXX -bench . -benchmem ./ingest/` on the 2-core
// development VM (AMD EPYC, Go 1.26), DecodeFix on the 16-field example
// fix object took 1.35 to 1.7 µs (1.4 µs CPU on a quiet machine) with one
// allocation, the result slice, including full validation. A plain
// json.Unmarshal of the same object into a struct of pointers took 3.3 to
// 4.5 µs with 22 allocations while checking much less. These are measurements on a
// shared machine, not guarantees; BenchmarkStdlibUnmarshalFix keeps the
// comparison reproducible.
//
// fastjson's parser is lenient in places: it accepts bare NaN and Inf and
// numbers such as 01 or 1.2.3. Each payload therefore also passes
// fastjson.Validate, which is strict RFC 8259, after the parser has bounded
// the nesting depth at 300. The validation costs roughly a third of the
// decode time and is kept because a payload that is not JSON must be
// rejected as a whole, not half-read.
package ingest
