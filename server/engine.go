package server

import (
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// tickEvery is the interval at which the engine looks for vehicles that
// went silent or overran their trip. A live signal loss is therefore
// noticed within this much of its threshold.
const tickEvery = 15 * time.Second

// startTicker drives the engine's time-based rules (live signal loss, trip
// overtime, idle late batches) until the server stops.
func (s *Server) startTicker() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(tickEvery)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				s.forwardByVehicle(s.engine.TickOwned(now, s.ownsVehicle))
			case <-s.stop:
				return
			}
		}
	}()
}

// forwardByVehicle hands deviations raised outside the ingest workers to
// the deviation sink, one vehicle at a time in the order given.
func (s *Server) forwardByVehicle(ds []model.Deviation) {
	if len(ds) == 0 {
		return
	}
	sink := &deviationSink{s: s}
	start := 0
	for i := 1; i <= len(ds); i++ {
		if i == len(ds) || ds[i].Terminal != ds[start].Terminal {
			if s.pipeline != nil {
				s.pipeline.MarkDirty(ds[start].Terminal)
			}
			sink.HandleDeviations(ds[start].Terminal, ds[start:i])
			start = i
		}
	}
}
