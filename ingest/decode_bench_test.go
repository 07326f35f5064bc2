package ingest

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// benchFix is the protocol example: every field set, RFC 3339 time.
var benchFix = []byte(`{"time":"2026-12-04T09:30:05+08:00","lat":28.8908,"lon":120.0425,"alt":96,` +
	`"speed":42.5,"heading":270,"valid":true,"sats":11,"hdop":0.9,"accuracy":5,"acc":true,` +
	`"odometer":12345.6,"alarm":0,"status":3,"source":"realtime","seq":4711}`)

func benchBatch(n int) []byte {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `{"time":` + strconv.Itoa(1796347700000+i*5000) + `,"lat":28.89` + strconv.Itoa(i) +
			`,"lon":120.04,"alt":96,"speed":42.5,"heading":270,"sats":11,"hdop":0.9,"acc":true,` +
			`"odometer":12345.6,"alarm":0,"status":3,"source":"blind","seq":` + strconv.Itoa(4700+i) + `}`
	}
	return []byte("[" + strings.Join(parts, ",") + "]")
}

func BenchmarkDecodeFixSingle(b *testing.B) {
	lim := DefaultLimits()
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFix)))
	start := processCPU(b)
	for b.Loop() {
		res := DecodeFix(testTerminal, benchFix, testReceived, lim)
		if len(res.Fixes) != 1 {
			b.Fatalf("rejected: %v", res.Rejects)
		}
	}
	reportCPUPerOp(b, start)
}

func BenchmarkDecodeFixSingleUnixMs(b *testing.B) {
	payload := []byte(`{"time":1796347805000,"lat":28.8908,"lon":120.0425,"alt":96,"speed":42.5,"heading":270,` +
		`"valid":true,"sats":11,"hdop":0.9,"accuracy":5,"acc":true,"odometer":12345.6,"alarm":0,"status":3,"seq":4711}`)
	lim := DefaultLimits()
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	start := processCPU(b)
	for b.Loop() {
		res := DecodeFix(testTerminal, payload, testReceived, lim)
		if len(res.Fixes) != 1 {
			b.Fatalf("rejected: %v", res.Rejects)
		}
	}
	reportCPUPerOp(b, start)
}

func BenchmarkDecodeFixBatch16(b *testing.B) {
	payload := benchBatch(16)
	lim := DefaultLimits()
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	start := processCPU(b)
	for b.Loop() {
		res := DecodeFix(testTerminal, payload, testReceived, lim)
		if len(res.Fixes) != 16 {
			b.Fatalf("got %d fixes, rejections %v", len(res.Fixes), res.Rejects)
		}
	}
	reportCPUPerOp(b, start)
}

func BenchmarkDecodeFixRejected(b *testing.B) {
	payload := []byte(`{"time":"2026-12-04T09:30:05+08:00","lat":121.47,"lon":28.89,"speed":-1,"seq":4711}`)
	lim := DefaultLimits()
	b.ReportAllocs()
	start := processCPU(b)
	for b.Loop() {
		res := DecodeFix(testTerminal, payload, testReceived, lim)
		if len(res.Rejects) != 2 {
			b.Fatalf("got rejections %v, want 2", res.Rejects)
		}
	}
	reportCPUPerOp(b, start)
}

func BenchmarkDecodeOwnTracks(b *testing.B) {
	payload := []byte(`{"cog":271,"batt":41,"lon":2.29513,"acc":5,"vel":61,"vac":21,"lat":48.85833,` +
		`"t":"u","tst":1706858149,"alt":167,"_type":"location","tid":"JJ","conn":"m"}`)
	lim := DefaultLimits()
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	start := processCPU(b)
	for b.Loop() {
		res := DecodeOwnTracks(testTerminal, payload, otReceived, lim)
		if len(res.Fixes) != 1 {
			b.Fatalf("rejected: %v", res.Rejects)
		}
	}
	reportCPUPerOp(b, start)
}

// stdlibFix is what a plain encoding/json decoder of the fix object would
// look like. It is only here to measure the parser choice explained in
// doc.go; it checks fewer things than DecodeFix does.
type stdlibFix struct {
	Time     json.RawMessage `json:"time"`
	Lat      *float64        `json:"lat"`
	Lon      *float64        `json:"lon"`
	Alt      *float64        `json:"alt"`
	Speed    *float64        `json:"speed"`
	Heading  *float64        `json:"heading"`
	Valid    *bool           `json:"valid"`
	Sats     *int            `json:"sats"`
	HDOP     *float64        `json:"hdop"`
	Accuracy *float64        `json:"accuracy"`
	ACC      *bool           `json:"acc"`
	Odometer *float64        `json:"odometer"`
	Alarm    *uint32         `json:"alarm"`
	Status   *uint32         `json:"status"`
	Source   *string         `json:"source"`
	Seq      *uint64         `json:"seq"`
	CRS      *string         `json:"crs"`
}

func BenchmarkStdlibUnmarshalFix(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFix)))
	start := processCPU(b)
	for b.Loop() {
		var f stdlibFix
		if err := json.Unmarshal(benchFix, &f); err != nil {
			b.Fatal(err)
		}
	}
	reportCPUPerOp(b, start)
}
