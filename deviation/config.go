package deviation

import "time"

// Config tunes the hysteresis shared by all rules.
type Config struct {
	// MarginM, MinFixes and Persistence gate every membership change. The
	// change needs an unbroken run of fixes on the new side that spans at
	// least Persistence of fix time. At least MinFixes of them, the last
	// included, must lie beyond the edge by max(MarginM, fix accuracy).
	// Defaults 20 m, 2 fixes, 30 s.
	MarginM     float64
	MinFixes    int
	Persistence time.Duration

	// While a fix's speed is below StationaryKmh (default 3 km/h),
	// membership is frozen unless the fix lies more than StationaryBreakM
	// (default 50 m) beyond the edge. A parked truck's position drifts by
	// tens of metres, and that drift must not open or close episodes.
	StationaryKmh    float64
	StationaryBreakM float64

	// DefaultCorridorM is the full corridor width used for a trip whose
	// CorridorM is 0. Default 200 m.
	DefaultCorridorM float64
}

// DefaultConfig returns the defaults named on Config's fields.
func DefaultConfig() Config {
	return Config{
		MarginM:          20,
		MinFixes:         2,
		Persistence:      30 * time.Second,
		StationaryKmh:    3,
		StationaryBreakM: 50,
		DefaultCorridorM: 200,
	}
}

// withDefaults replaces zero or negative fields with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MarginM <= 0 {
		c.MarginM = d.MarginM
	}
	if c.MinFixes <= 0 {
		c.MinFixes = d.MinFixes
	}
	if c.Persistence <= 0 {
		c.Persistence = d.Persistence
	}
	if c.StationaryKmh <= 0 {
		c.StationaryKmh = d.StationaryKmh
	}
	if c.StationaryBreakM <= 0 {
		c.StationaryBreakM = d.StationaryBreakM
	}
	if c.DefaultCorridorM <= 0 {
		c.DefaultCorridorM = d.DefaultCorridorM
	}
	return c
}
