package simulator

import (
	"slices"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// DefaultMaxGap is the longest pause between two fixes that Retime keeps.
const DefaultMaxGap = 10 * time.Minute

// Retime prepares recorded fixes for a replay that ends at end. It sorts
// the fixes by time, keeping file order for equal times, and drops every
// fix whose time is not after the previous kept one. It shortens every gap
// longer than maxGap to maxGap and shifts all times so the last fix is at
// end. Spacing below maxGap is kept, so
// speeds derived from positions stay physical. A maxGap of zero or less
// means DefaultMaxGap. The input slice is not modified.
func Retime(fixes []model.Fix, end time.Time, maxGap time.Duration) []model.Fix {
	if len(fixes) == 0 {
		return nil
	}
	if maxGap <= 0 {
		maxGap = DefaultMaxGap
	}

	sorted := slices.Clone(fixes)
	slices.SortStableFunc(sorted, func(a, b model.Fix) int { return a.Time.Compare(b.Time) })

	out := sorted[:0]
	for _, f := range sorted {
		if len(out) > 0 && !f.Time.After(out[len(out)-1].Time) {
			continue
		}
		out = append(out, f)
	}

	// Offsets from the first fix with long gaps capped, then shifted so
	// the last offset lands on end.
	offsets := make([]time.Duration, len(out))
	for i := 1; i < len(out); i++ {
		gap := out[i].Time.Sub(out[i-1].Time)
		offsets[i] = offsets[i-1] + min(gap, maxGap)
	}
	start := end.Add(-offsets[len(out)-1])
	for i := range out {
		out[i].Time = start.Add(offsets[i]).UTC()
	}
	return out
}
