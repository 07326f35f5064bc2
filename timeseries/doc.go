// Package timeseries copies fixes to InfluxDB and reads tracks back from it.
//
// # Points
//
// Each fix is one point of the configured measurement (default "fix"),
// tagged with the vehicle's terminal id and stamped with the fix time in
// nanoseconds. Every point has the fields lat, lon, valid, source and
// received_at (Unix nanoseconds). It has alt, speed, heading, sats, hdop,
// accuracy, acc, odometer, alarm, status and seq only when the unit sent
// them, so a track read back has the same optional fields as the one
// stored locally. InfluxDB 1.8 has no unsigned integers, so alarm, status and seq
// are written as signed 64-bit integers with the same bits.
//
// InfluxDB identifies a point by measurement, tags and timestamp, so a
// fix written twice is stored once. Re-sending a batch after a timeout or
// after a crash is therefore safe. Two reports of one vehicle with the same
// fix time but different seq overwrite each other's fields.
//
// # Writing
//
// Writer.WriteFixes encodes points into the open batch and returns; it
// never waits on the network. A batch is sealed when it holds BatchSize
// points or FlushInterval after its first point. One goroutine writes
// sealed batches in order. While InfluxDB is unreachable or answers 5xx,
// 429 or an authentication or "database not found" error, batches move to
// an on-disk spool and are written from there in order when InfluxDB
// answers again. A batch that InfluxDB rejects as bad data (another 4xx)
// is appended to the reject file in the spool directory with the reason
// and is not retried.
//
// # Recovery
//
// Fixes held only in memory are not yet durable. PendingFrom returns the
// lowest raw log sequence number among them, and the ingest pipeline keeps
// its recovery point below it. After a crash the raw log is replayed from
// there and those fixes are written again. Batches in the spool are
// durable (fsync) and are written after the restart.
//
// When the spool is full, new batches are not kept: the writer logs an
// error, counts the points in hwtrack_timeseries_points_deferred_total and
// holds the recovery point at the first such fix until the process
// restarts. The raw log still holds those fixes, and the next start
// re-derives them and writes them again.
package timeseries
