package simulator

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one Replay run.
type Report struct {
	RunID    string          `json:"run_id"`
	Started  time.Time       `json:"started"`
	Finished time.Time       `json:"finished"`
	QoS      byte            `json:"qos"`
	Speedup  float64         `json:"speedup"`
	Vehicles []VehicleReport `json:"vehicles"`
}

// VehicleReport is the outcome for one track file. Expected and Seen
// count deviation episodes by kind name. Expected always has
// route_deviation, the one kind the simulator controls.
type VehicleReport struct {
	File          string    `json:"file"`
	Format        string    `json:"format"`
	Terminal      string    `json:"terminal"`
	Plate         string    `json:"plate,omitempty"`
	TripID        string    `json:"trip_id,omitempty"`
	ManifestNo    string    `json:"manifest_no,omitempty"`
	Read          ReadStats `json:"read"`
	FixesRead     int       `json:"fixes_read"`
	RouteVertices int       `json:"route_vertices"`

	Published    int `json:"published"`
	Acknowledged int `json:"acknowledged"`
	Rejected     int `json:"rejected"`
	Stored       int `json:"stored"`

	Expected   map[string]int `json:"deviations_expected"`
	Seen       map[string]int `json:"deviations_seen"`
	Injections []Injection    `json:"injections,omitempty"`

	Duration       time.Duration `json:"duration_ns"`
	FixesPerSecond float64       `json:"fixes_per_second"`
	Error          string        `json:"error,omitempty"`
}

// OK reports whether the vehicle replayed without error, every published
// fix was acknowledged (for QoS 1 and 2) and the server saw exactly the
// expected number of episodes of every kind the simulator expects.
// Kinds the track itself may cause, such as overspeed on a motorway
// track, are reported but not judged.
func (v *VehicleReport) OK(qos byte) bool {
	if v.Error != "" {
		return false
	}
	if qos > 0 && v.Acknowledged < v.Published {
		return false
	}
	for kind, n := range v.Expected {
		if v.Seen[kind] != n {
			return false
		}
	}
	return true
}

// OK reports whether every vehicle is OK.
func (r *Report) OK() bool {
	for i := range r.Vehicles {
		if !r.Vehicles[i].OK(r.QoS) {
			return false
		}
	}
	return true
}

// WriteTable writes the report as an aligned text table, one row per
// vehicle, followed by each vehicle's error.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "file\tterminal\tread\tpublished\tacked\trejected\tstored\texpected\tseen\tfixes/s\tresult\t")
	for i := range r.Vehicles {
		v := &r.Vehicles[i]
		result := "ok"
		if !v.OK(r.QoS) {
			result = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%.1f\t%s\t\n",
			truncate(baseName(v.File), 32), v.Terminal, v.FixesRead, v.Published, v.Acknowledged,
			v.Rejected, v.Stored, formatKinds(v.Expected), formatKinds(v.Seen), v.FixesPerSecond, result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i := range r.Vehicles {
		if v := &r.Vehicles[i]; v.Error != "" {
			if _, err := fmt.Fprintf(w, "%s: %s\n", v.Terminal, v.Error); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteJSONFile writes the report as indented JSON to path.
func (r *Report) WriteJSONFile(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// formatKinds renders counts as "overspeed=2,route_deviation=0", or "-"
// for an empty map. Zero counts are shown because the route_deviation
// entry is always present and 0 is a meaningful expectation.
func formatKinds(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return "-"
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ",")
}

func baseName(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[i+1:]
	}
	return path
}
