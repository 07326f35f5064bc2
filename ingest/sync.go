package ingest

import "hash/maphash"

// Sync returns once every fix of terminal that was handed to its worker
// before the call has been evaluated and stored, or when the pipeline
// closes. A record still waiting for its fsync has not been handed over
// yet, so a caller that needs those too waits for their Record callbacks
// first. Other vehicles sharing the worker are not held up for long: the
// barrier travels through the queue like a message.
func (p *Pipeline) Sync(terminal string) {
	s := p.shardOf(terminal)
	done := make(chan struct{})
	select {
	case s.queue <- batch{terminal: terminal, synced: done}:
	case <-p.stop:
		return
	}
	select {
	case <-done:
	case <-p.stop:
	}
}

// shardOf returns the worker shard that evaluates terminal's fixes.
func (p *Pipeline) shardOf(terminal string) *shard {
	return p.shards[maphash.String(p.seed, terminal)%uint64(len(p.shards))]
}
