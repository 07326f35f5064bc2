package config

import (
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/ingest"
)

func TestIngestMaxAge(t *testing.T) {
	if got, want := Default().Ingest.MaxAge.Std(), ingest.DefaultLimits().MaxAge; got != want {
		t.Errorf("ingest.max_age default %s differs from the decoder's %s", got, want)
	}

	cfg, err := Load("", []string{"HWTRACK_INGEST_MAX_AGE=30d"}, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ingest.MaxAge.Std() != 30*24*time.Hour {
		t.Errorf("ingest.max_age = %s, want 30d from the environment", cfg.Ingest.MaxAge)
	}

	_, err = Load(writeFile(t, "ingest:\n  max_age: -1h\n"), nil, Flags{})
	if err == nil || !strings.Contains(err.Error(), "ingest.max_age") {
		t.Errorf("negative max_age: error %v, want one naming ingest.max_age", err)
	}
}
