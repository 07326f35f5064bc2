package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/hwtrack/hwtrack/api"
	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/ingest"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/timeseries"
)

// timeSeries is the InfluxDB backend: nil fields when timeseries.backend
// is embedded.
//
// With InfluxDB selected, fixes are still stored in the embedded store
// too, for retention.fixes: it removes duplicates, holds each vehicle's
// latest position and the excerpts sent with deviations, and covers the
// fixes InfluxDB has not received yet. InfluxDB holds the long history
// and is what several ingest nodes share.
type timeSeries struct {
	writer *timeseries.Writer
	reader *timeseries.Reader
}

func (s *Server) startTimeSeries() error {
	cfg := s.cfg.TimeSeries
	if cfg.Backend != config.BackendInfluxDB {
		return nil
	}
	token, err := cfg.InfluxDB.ResolveToken()
	if err != nil {
		return err
	}
	c := cfg.InfluxDB
	opts := timeseries.Options{
		URL:              c.URL,
		Token:            token,
		Org:              c.Org,
		Bucket:           c.Bucket,
		Measurement:      c.Measurement,
		BatchSize:        c.BatchSize,
		FlushInterval:    c.FlushInterval.Std(),
		SpoolDir:         c.SpoolPath(s.cfg.DataDir),
		SpoolMaxBytes:    int64(c.SpoolMaxBytes),
		WriteTimeout:     c.WriteTimeout.Std(),
		QueryTimeout:     c.QueryTimeout.Std(),
		MaxRetryInterval: c.MaxRetryInterval.Std(),
		Logger:           s.log,
	}
	if s.series.writer, err = timeseries.NewWriter(opts); err != nil {
		return fmt.Errorf("start InfluxDB writer: %w", err)
	}
	s.series.reader = timeseries.NewReader(opts)
	return nil
}

// seriesWriter returns the pipeline's series writer, or nil.
func (s *Server) seriesWriter() ingest.SeriesWriter {
	if s.series.writer == nil {
		return nil
	}
	return s.series.writer
}

func (s *Server) timeSeriesCollectors() []prometheus.Collector {
	if s.series.writer == nil {
		return nil
	}
	return append(s.series.writer.Collectors(), s.series.reader.Collectors()...)
}

// closeTimeSeries runs after the pipeline has flushed the writer.
func (s *Server) closeTimeSeries() error {
	if s.series.writer == nil {
		return nil
	}
	s.series.reader.Close()
	return s.series.writer.Close()
}

// apiStore returns the store the API reads, with tracks served from
// InfluxDB when it is selected.
func (s *Server) apiStore() api.Store {
	if s.series.reader == nil {
		return storeAdapter{s.store}
	}
	return seriesStore{
		storeAdapter: storeAdapter{s.store},
		reader:       s.series.reader,
		log:          s.log.With("component", "timeseries"),
		warn:         rate.NewLimiter(rate.Every(time.Minute), 1),
	}
}

// seriesStore serves tracks from InfluxDB merged with the embedded store.
// The merge adds the fixes this node holds that InfluxDB does not have
// yet (in memory or in the spool); InfluxDB adds what other nodes wrote
// and what the embedded store has pruned.
type seriesStore struct {
	storeAdapter
	reader *timeseries.Reader
	log    *slog.Logger
	warn   *rate.Limiter
}

var _ api.Store = seriesStore{}

// Track returns the merged track. When InfluxDB cannot be read it returns
// the embedded store's track alone and logs a warning at most once a
// minute, so playback keeps working during an outage, limited to what
// this node holds for retention.fixes.
func (a seriesStore) Track(terminal string, from, to time.Time, limit int) ([]model.Fix, error) {
	local, err := a.Store.Track(terminal, from, to, limit)
	if err != nil {
		return nil, err
	}
	remote, err := a.reader.Track(context.Background(), terminal, from, to, limit)
	if err != nil {
		if a.warn.Allow() {
			a.log.Warn("InfluxDB track query failed; serving the embedded store's track", "vehicle_id", terminal, "err", err)
		}
		return local, nil
	}
	return mergeTracks(local, remote, limit), nil
}

// mergeTracks merges two tracks in fix-time order, then seq order, keeping
// one fix per (time, seq) and preferring a's, and cuts the result to limit
// when limit > 0.
func mergeTracks(a, b []model.Fix, limit int) []model.Fix {
	out := make([]model.Fix, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if limit > 0 && len(out) == limit {
			break
		}
		switch {
		case j == len(b):
			out = append(out, a[i])
			i++
		case i == len(a):
			out = append(out, b[j])
			j++
		default:
			switch c := compareFix(&a[i], &b[j]); {
			case c < 0:
				out = append(out, a[i])
				i++
			case c > 0:
				out = append(out, b[j])
				j++
			default:
				out = append(out, a[i])
				i++
				j++
			}
		}
	}
	return out
}

func compareFix(a, b *model.Fix) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	switch {
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}
