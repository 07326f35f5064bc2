//go:build !unix

package ingest

import (
	"testing"
	"time"
)

// reportCPUPerOp does nothing where getrusage is not available.
func reportCPUPerOp(*testing.B, time.Duration) {}

func processCPU(*testing.B) time.Duration { return 0 }
