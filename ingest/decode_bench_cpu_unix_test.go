//go:build unix

package ingest

import (
	"syscall"
	"testing"
	"time"
)

// reportCPUPerOp adds a cpu-ns/op metric: user plus system CPU time of the
// whole process, GC included, divided by b.N. On a shared machine it varies
// less than ns/op, which also counts time spent waiting for a core.
func reportCPUPerOp(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
