package timeseries

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hwtrack/hwtrack/model"
)

// Reader reads tracks back from InfluxDB with Flux, which InfluxDB 1.8
// serves when its [http] section sets flux-enabled = true.
//
// NOTE: on InfluxDB 1.8 a day at 1 Hz takes seconds, most of it in the
// server's Flux engine. InfluxQL on the 1.x /query endpoint measured more
// than twice as fast (docs/benchmarks.md), but the client has no InfluxQL
// API, and InfluxDB 2.x serves InfluxQL only for buckets mapped to a
// database and retention policy.
type Reader struct {
	opts   Options
	client influxdb2.Client
	query  api.QueryAPI

	querySeconds prometheus.Histogram
	queryErrors  prometheus.Counter
}

// NewReader returns a Reader; it does not contact InfluxDB.
func NewReader(opts Options) *Reader {
	opts.setDefaults()
	r := &Reader{
		opts:   opts,
		client: newClient(&opts),
		querySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hwtrack_timeseries_query_seconds",
			Help:    "Duration of one track query to InfluxDB, in seconds.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		queryErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_timeseries_query_errors_total",
			Help: "Track queries to InfluxDB that failed.",
		}),
	}
	r.query = r.client.QueryAPI(opts.Org)
	return r
}

// Collectors returns the reader's Prometheus collectors.
func (r *Reader) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.querySeconds, r.queryErrors}
}

// Close releases the client's idle connections.
func (r *Reader) Close() { r.client.Close() }

// Track returns terminal's fixes with from <= fix time < to in fix-time
// order, at most limit of them when limit > 0, as InfluxDB holds them.
func (r *Reader) Track(ctx context.Context, terminal string, from, to time.Time, limit int) ([]model.Fix, error) {
	if !to.After(from) {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.QueryTimeout)
	defer cancel()
	start := time.Now()
	fixes, err := r.track(ctx, terminal, from, to, limit)
	r.querySeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		r.queryErrors.Inc()
		return nil, fmt.Errorf("query track of %s from InfluxDB: %w", terminal, err)
	}
	return fixes, nil
}

func (r *Reader) track(ctx context.Context, terminal string, from, to time.Time, limit int) ([]model.Fix, error) {
	result, err := r.query.Query(ctx, trackQuery(r.opts.Bucket, r.opts.Measurement, terminal, from, to, limit))
	if err != nil {
		return nil, err
	}
	defer result.Close()

	var fixes []model.Fix
	for result.Next() {
		f, err := fixFromRecord(terminal, result.Record().Values())
		if err != nil {
			return nil, err
		}
		fixes = append(fixes, f)
	}
	if err := result.Err(); err != nil {
		return nil, err
	}

	// The query leaves sorting to this side (see trackQuery). InfluxDB
	// 1.8 (Flux 0.65) also returns points at the range's stop, but the
	// contract is from <= time < to.
	slices.SortStableFunc(fixes, func(a, b model.Fix) int { return a.Time.Compare(b.Time) })
	end, _ := slices.BinarySearchFunc(fixes, to, func(f model.Fix, t time.Time) int { return f.Time.Compare(t) })
	fixes = fixes[:end]
	if limit > 0 && len(fixes) > limit {
		fixes = fixes[:limit]
	}
	return fixes, nil
}

// trackQuery builds the Flux query of one vehicle's track: one row per
// point with a column per field, in no particular order.
//
// The query neither sorts nor limits after the pivot, because sort() in
// Flux 0.65 (InfluxDB 1.8) turns missing booleans into false. The limit
// applies to each field's table before the pivot instead. lat is on every
// point, so its first n times are the first n points, and every other
// field's values at those times are within its own first n rows. The
// caller sorts and keeps the first n.
func trackQuery(bucket, measurement, terminal string, from, to time.Time, limit int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "from(bucket: %s)\n", fluxString(bucket))
	fmt.Fprintf(&b, "  |> range(start: %s, stop: %s)\n", from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, "  |> filter(fn: (r) => r._measurement == %s and r.%s == %s)\n", fluxString(measurement), tagTerminal, fluxString(terminal))
	if limit > 0 {
		// One more, for a point at the stop that 1.8 returns too.
		fmt.Fprintf(&b, "  |> limit(n: %d)\n", limit+1)
	}
	b.WriteString("  |> pivot(rowKey: [\"_time\"], columnKey: [\"_field\"], valueColumn: \"_value\")\n")
	b.WriteString("  |> drop(columns: [\"_start\", \"_stop\", \"_measurement\"])\n")
	return b.String()
}

// fluxString quotes s as a Flux string literal. Backslash, double quote
// and the interpolation opener ${ are escaped.
func fluxString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// fixFromRecord turns one pivoted row into a fix. A field missing from the
// row leaves its model.Has bit unset, as it was when the fix was written.
func fixFromRecord(terminal string, v map[string]any) (model.Fix, error) {
	f := model.Fix{Terminal: terminal}
	t, ok := v["_time"].(time.Time)
	if !ok {
		return f, fmt.Errorf("row without a _time: %v", v)
	}
	f.Time = t

	var err error
	read := func(key string, dst *float64, bit model.FieldSet) {
		switch x := v[key].(type) {
		case nil:
		case float64:
			*dst = x
			f.Has |= bit
		default:
			if err == nil {
				err = fmt.Errorf("field %s is %T, want a float", key, x)
			}
		}
	}
	readInt := func(key string, bit model.FieldSet) (int64, bool) {
		switch x := v[key].(type) {
		case nil:
			return 0, false
		case int64:
			f.Has |= bit
			return x, true
		default:
			if err == nil {
				err = fmt.Errorf("field %s is %T, want an integer", key, x)
			}
			return 0, false
		}
	}

	read(fieldLat, &f.Lat, 0)
	read(fieldLon, &f.Lon, 0)
	read(fieldAlt, &f.AltM, model.HasAlt)
	read(fieldSpeed, &f.SpeedKmh, model.HasSpeed)
	read(fieldHeading, &f.HeadingDeg, model.HasHeading)
	read(fieldHDOP, &f.HDOP, model.HasHDOP)
	read(fieldAccuracy, &f.AccuracyM, model.HasAccuracy)
	read(fieldOdometer, &f.OdometerKm, model.HasOdometer)

	if n, ok := readInt(fieldSats, model.HasSats); ok {
		f.Sats = int(n)
	}
	if n, ok := readInt(fieldAlarm, model.HasAlarm); ok {
		f.Alarm = uint32(n)
	}
	if n, ok := readInt(fieldStatus, model.HasStatus); ok {
		f.Status = uint32(n)
	}
	if n, ok := readInt(fieldSeq, model.HasSeq); ok {
		f.Seq = uint64(n)
	}
	if n, ok := readInt(fieldReceivedAt, 0); ok {
		f.ReceivedAt = time.Unix(0, n).UTC()
	}

	if b, ok := v[fieldValid].(bool); ok {
		f.Valid = b
	}
	if b, ok := v[fieldACC].(bool); ok {
		f.ACC = b
		f.Has |= model.HasACC
	}
	if s, ok := v[fieldSource].(string); ok {
		f.Source, _ = model.ParseSource(s)
	}
	return f, err
}
