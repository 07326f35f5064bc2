// Package config loads the hwtrack server configuration in one pipeline:
// built-in defaults, then a YAML file, then HWTRACK_* environment variables,
// then command-line flags, then one validation pass that reports every bad
// key at once.
package config

import (
	"time"
)

// Config is the whole server configuration. The yaml tags are the keys of
// the YAML file; the environment variable of a key is HWTRACK_ followed by
// its path in upper case joined with underscores (mqtt.addr is
// HWTRACK_MQTT_ADDR).
type Config struct {
	// DataDir holds the raw log, the store and the forwarder outbox.
	DataDir string `yaml:"data_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// Demo loads the sample fleet with sample credentials, listens on
	// loopback only and drives the fleet with the built-in simulator.
	Demo bool `yaml:"demo"`

	MQTT      MQTT      `yaml:"mqtt"`
	External  External  `yaml:"external"`
	HTTP      HTTP      `yaml:"http"`
	Upstream  Upstream  `yaml:"upstream"`
	Retention Retention `yaml:"retention"`
	Ingest    Ingest    `yaml:"ingest"`
	Rules     Rules     `yaml:"rules"`
	Console   Console   `yaml:"console"`
	// TimeSeries selects where fix history lives (timeseries.go).
	TimeSeries TimeSeries `yaml:"timeseries"`
	Video      Video      `yaml:"video"`
	// ZoneFiles are GeoJSON FeatureCollections loaded at start; their
	// zones are replaced on every start, zones added through the API stay.
	ZoneFiles []string `yaml:"zone_files"`
}

// MQTT configures the embedded broker. Every limit is finite so no client
// can make the broker hold unbounded state.
type MQTT struct {
	// Mode is embedded (vehicles publish to this server's broker) or
	// external (this server also consumes them from the MQTT cluster set
	// under external, as one of several ingest nodes).
	Mode string `yaml:"mode"`
	Addr string `yaml:"addr"`
	// WebSocketAddr is the MQTT-over-WebSocket listener; empty disables it.
	WebSocketAddr string `yaml:"websocket_addr"`
	// MaxPacketBytes caps one MQTT packet.
	MaxPacketBytes int `yaml:"max_packet_bytes"`
	// ReceiveMaximum caps the QoS 1 and 2 publishes a client may have
	// unacknowledged towards the broker.
	ReceiveMaximum int `yaml:"receive_maximum"`
	// MaxInflight caps the QoS 1 and 2 messages the broker holds for one
	// client, and MaxQueued the writes pending to one client.
	MaxInflight int `yaml:"max_inflight"`
	MaxQueued   int `yaml:"max_queued"`
	// SessionExpiry caps how long a disconnected persistent session lives.
	SessionExpiry Duration `yaml:"session_expiry"`
	// MessageExpiry caps how long an undelivered message is kept.
	MessageExpiry Duration `yaml:"message_expiry"`
	MaxClients    int      `yaml:"max_clients"`

	// TLSAddr is the MQTT-over-TLS listener, started only when TLSCertFile
	// and TLSKeyFile (PEM) are set.
	TLSAddr     string `yaml:"tls_addr"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// ClientCAFile (PEM) makes the TLS listener require client
	// certificates signed by these CAs, whose common name must equal the
	// terminal id the unit logs in with.
	ClientCAFile string `yaml:"client_ca_file"`

	// ConnectRate is the sustained number of CONNECT packets per second
	// the broker processes, and ConnectBurst the bucket size. Beyond them
	// a client gets "server unavailable" and retries later.
	ConnectRate  float64 `yaml:"connect_rate"`
	ConnectBurst int     `yaml:"connect_burst"`
	// FlapTakeovers live takeovers of one terminal's client id within
	// FlapWindow ban the terminal for FlapBan, because two units sharing an
	// id would interleave their tracks. Two units take each other over
	// every few seconds, so 4 a minute catches them while one unit on a
	// poor link, whose half-open connection is taken over by its own
	// reconnect now and then, is left alone.
	FlapTakeovers int      `yaml:"flap_takeovers"`
	FlapWindow    Duration `yaml:"flap_window"`
	FlapBan       Duration `yaml:"flap_ban"`
}

// HTTP configures the API, console and metrics listener.
type HTTP struct {
	Addr string `yaml:"addr"`
	// APITokens are accepted bearer tokens for the API, in addition to the
	// admin token created on first start.
	APITokens []string `yaml:"api_tokens"`
	// TLSCertFile and TLSKeyFile (PEM) switch the listener to HTTPS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
}

// Upstream is the regulator's MQTT broker the forwarder publishes to.
type Upstream struct {
	// URL is tcp://, ssl://, ws:// or wss://; empty keeps messages in the
	// outbox until an upstream is configured.
	URL string `yaml:"url"`
	// ClientID is the forwarder's MQTT client id; empty means
	// "hwtrack-fwd-" plus the host name, so two servers sharing one
	// regulator broker do not take each other's session over.
	ClientID    string `yaml:"client_id"`
	Username    string `yaml:"username"`
	Password    string `yaml:"password"`
	TopicPrefix string `yaml:"topic_prefix"`
	MaxInflight int    `yaml:"max_inflight"`
}

// Retention sets how long stored data is kept before it is pruned.
type Retention struct {
	Fixes      Duration `yaml:"fixes"`
	Raw        Duration `yaml:"raw"`
	Deviations Duration `yaml:"deviations"`
}

// Ingest limits what one MQTT message may carry.
type Ingest struct {
	MaxBatch int `yaml:"max_batch"`
	// MaxFutureSkew is how far a fix time may lie ahead of the receive time.
	MaxFutureSkew Duration `yaml:"max_future_skew"`
	// MaxAge, when positive, rejects fixes older than the receive time
	// minus MaxAge as too_old. Zero turns the check off, because replayed
	// historical tracks are legitimate input.
	MaxAge Duration `yaml:"max_age"`
	// Workers is the number of goroutines evaluating vehicles; each vehicle
	// always goes to the same one so its fixes stay in order.
	Workers int `yaml:"workers"`
}

// Rules holds the hysteresis every zone and route transition obeys.
type Rules struct {
	MarginM     float64  `yaml:"margin_m"`
	MinFixes    int      `yaml:"min_fixes"`
	Persistence Duration `yaml:"persistence"`
	// MaxAccuracyM caps the reported accuracy that widens the margin and
	// the stop radius.
	MaxAccuracyM float64 `yaml:"max_accuracy_m"`
	// Restricted, Route and Jurisdiction override the three settings above
	// for restricted zones, route corridors and jurisdiction boundaries;
	// 0 keeps the shared value.
	Restricted   RuleGate `yaml:"restricted"`
	Route        RuleGate `yaml:"route"`
	Jurisdiction RuleGate `yaml:"jurisdiction"`

	// DefaultLimitKmh and ExpresswayLimitKmh are the dangerous-goods speed
	// limits used where no zone sets one.
	DefaultLimitKmh    float64 `yaml:"default_limit_kmh"`
	ExpresswayLimitKmh float64 `yaml:"expressway_limit_kmh"`
	// OverspeedMinDuration is how long speeding must last to open an
	// episode.
	OverspeedMinDuration Duration `yaml:"overspeed_min_duration"`
	// MaxImpliedKmh is the speed between two fixes beyond which the later
	// fix is taken for a GNSS jump.
	MaxImpliedKmh float64 `yaml:"max_implied_kmh"`
	// LongStop is how long a vehicle on a trip may stand outside any site.
	LongStop Duration `yaml:"long_stop"`
	// SignalLoss is the gap in fix times that counts as lost signal.
	SignalLoss Duration `yaml:"signal_loss"`
	// TripOvertimeGrace is how long past its planned end a trip may run.
	TripOvertimeGrace Duration `yaml:"trip_overtime_grace"`
	// SiteDwell is how long a vehicle must stay inside a site zone to have
	// arrived there.
	SiteDwell Duration `yaml:"site_dwell"`
}

// RuleGate is the hysteresis of one kind of boundary; a zero field keeps
// the shared rules value.
type RuleGate struct {
	MarginM     float64  `yaml:"margin_m"`
	MinFixes    int      `yaml:"min_fixes"`
	Persistence Duration `yaml:"persistence"`
}

// Console configures the regulator console's map and session cookies.
type Console struct {
	// TileURL is the map tile URL template with {z}, {x} and {y}, and
	// optionally {s} for a subdomain; empty draws the overlays on a plain
	// background.
	TileURL string `yaml:"tile_url"`
	// TileCRS is the datum of the tiles: wgs84 (Tianditu) or gcj02
	// (AMap), which the console converts overlays into for display.
	TileCRS         string `yaml:"tile_crs"`
	TileAttribution string `yaml:"tile_attribution"`
	// DefaultLanguage is zh-CN or en.
	DefaultLanguage string `yaml:"default_language"`
	// InsecureCookies drops the Secure attribute from the session cookie,
	// so a browser keeps it over plain http. Only for the demo and tests.
	InsecureCookies bool `yaml:"insecure_cookies"`
	// Center is the initial map centre as [lat, lon] in WGS-84 degrees.
	Center []float64 `yaml:"center"`
	// Zoom is the initial map zoom level.
	Zoom int `yaml:"zoom"`
}

const day = 24 * time.Hour

// Default returns the configuration used when nothing else is set.
func Default() Config {
	return Config{
		DataDir:  "./data",
		LogLevel: "info",
		MQTT: MQTT{
			Mode:           ModeEmbedded,
			Addr:           ":1883",
			WebSocketAddr:  ":1884",
			MaxPacketBytes: 256 << 10,
			ReceiveMaximum: 256,
			MaxInflight:    1024,
			MaxQueued:      128, // a channel slot per message, allocated for every connection
			SessionExpiry:  Duration(day),
			MessageExpiry:  Duration(10 * time.Minute),
			MaxClients:     200_000,
			TLSAddr:        ":8883",
			ConnectRate:    500,
			ConnectBurst:   1000,
			FlapTakeovers:  4,
			FlapWindow:     Duration(time.Minute),
			FlapBan:        Duration(10 * time.Minute),
		},
		External: DefaultExternal(),
		HTTP:     HTTP{Addr: ":8080"},
		Upstream: Upstream{
			TopicPrefix: "hwt/regulator/v1",
			MaxInflight: 64,
		},
		Retention: Retention{
			Fixes:      Duration(180 * day),
			Raw:        Duration(180 * day),
			Deviations: Duration(3 * 365 * day),
		},
		Ingest: Ingest{
			MaxBatch:      1000,
			MaxFutureSkew: Duration(5 * time.Minute),
			Workers:       8,
		},
		Rules: Rules{
			MarginM:      20,
			MinFixes:     2,
			Persistence:  Duration(30 * time.Second),
			MaxAccuracyM: 100,

			DefaultLimitKmh:      60,
			ExpresswayLimitKmh:   80,
			OverspeedMinDuration: Duration(10 * time.Second),
			MaxImpliedKmh:        150,
			LongStop:             Duration(10 * time.Minute),
			SignalLoss:           Duration(5 * time.Minute),
			TripOvertimeGrace:    Duration(15 * time.Minute),
			SiteDwell:            Duration(time.Minute),
		},
		Console: Console{
			TileCRS:         "wgs84",
			DefaultLanguage: "zh-CN",
			// Yongkang city centre.
			Center: []float64{28.89, 120.04},
			Zoom:   12,
		},
		ZoneFiles:  []string{"configs/zones.geojson"},
		TimeSeries: defaultTimeSeries(),
		Video:      DefaultVideo(),
	}
}
