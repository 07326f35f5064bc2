// Package storage is hwtrack's embedded persistence: an append-only raw log
// of every MQTT message, made durable with group commit, and a pebble
// key-value store for the data derived from it (fixes, vehicles, zones,
// bookings, trips, deviations and opaque component state). It is pure Go
// and builds with CGO_ENABLED=0.
//
// # Raw log
//
// Segments live in {Dir}/raw/ and are named
// "{firstSeq:020d}-{YYYYMMDD}.raw": the lower bound of the sequence numbers
// in the segment and the UTC day the segment was started. A new segment
// starts when the UTC day changes or the active segment reaches
// SegmentSizeBytes. A segment can exceed that size by one commit batch.
//
// Each record is framed as
//
//	uint32 LE  body length
//	uint32 LE  CRC-32C (Castagnoli) of the body
//	body:      uint64 LE seq, int64 LE receive time (Unix ns), QoS byte,
//	           flags byte (bit 0 retain), uvarint-prefixed client id,
//	           username and topic, then the payload up to the end of body.
//
// Sequence numbers increase strictly but may have gaps: a batch whose write
// or fsync failed is reported as failed to its callers and its numbers are
// not reused while the process runs.
//
// # Pebble keys
//
// Every key starts with a short ASCII prefix that ends in '/'. Terminal ids
// that are followed by more key bytes are terminated by 0x00, so terminal
// ids must not contain 0x00. Times in keys are Unix nanoseconds as 8
// big-endian bytes with the sign bit flipped, so byte order is time order.
//
//	m/applied_raw_seq               uint64 BE, highest raw seq applied
//	f/{terminal}\x00{time}{seq}     one fix, binary (see fixcodec.go)
//	ft/{terminal}                   empty value, marks terminals with fixes
//	v/{terminal}                    model.Vehicle as JSON
//	z/{id}                          model.Zone as JSON
//	b/{id}                          model.Booking as JSON
//	t/{id}                          model.Trip as JSON
//	tv/{terminal}\x00{trip id}      empty value, indexes trips by vehicle
//	d/{id}                          model.Deviation as JSON
//	ds/{started_at}{id}             empty value, indexes deviations by start
//	dt/{terminal}\x00{started_at}{id}  empty value, by vehicle and start
//	s/{key}                         opaque state blob
//
// The fix seq in keys is model.Fix.Seq (the unit's counter) as 8 bytes BE,
// so a track is one range scan in fix-time order and a re-sent fix maps to
// the key it already has.
//
// Derived writes use pebble.NoSync because the raw log is the durable
// record. PutFixes writes m/applied_raw_seq in the same batch as the fixes,
// so after a crash the caller replays the raw log from AppliedRawSeq.
package storage
