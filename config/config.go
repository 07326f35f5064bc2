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
	HTTP      HTTP      `yaml:"http"`
	Upstream  Upstream  `yaml:"upstream"`
	Retention Retention `yaml:"retention"`
	Ingest    Ingest    `yaml:"ingest"`
	Rules     Rules     `yaml:"rules"`
	// ZoneFiles are GeoJSON FeatureCollections loaded at start; their
	// zones are replaced on every start, zones added through the API stay.
	ZoneFiles []string `yaml:"zone_files"`
}

// MQTT configures the embedded broker. Every limit is finite so no client
// can make the broker hold unbounded state.
type MQTT struct {
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
}

// HTTP configures the API, console and metrics listener.
type HTTP struct {
	Addr string `yaml:"addr"`
	// APITokens are accepted bearer tokens for the API, in addition to the
	// admin token created on first start.
	APITokens []string `yaml:"api_tokens"`
}

// Upstream is the regulator's MQTT broker the forwarder publishes to.
type Upstream struct {
	// URL is tcp://, ssl://, ws:// or wss://; empty keeps messages in the
	// outbox until an upstream is configured.
	URL         string `yaml:"url"`
	ClientID    string `yaml:"client_id"`
	Username    string `yaml:"username"`
	Password    string `yaml:"password"`
	TopicPrefix string `yaml:"topic_prefix"`
	MaxInflight int    `yaml:"max_inflight"`
}

// Retention says how long stored data is kept before it is pruned.
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
	// Workers is the number of goroutines evaluating vehicles; each vehicle
	// always goes to the same one so its fixes stay in order.
	Workers int `yaml:"workers"`
}

// Rules holds the hysteresis every zone and route transition obeys.
type Rules struct {
	MarginM     float64  `yaml:"margin_m"`
	MinFixes    int      `yaml:"min_fixes"`
	Persistence Duration `yaml:"persistence"`
}

const day = 24 * time.Hour

// Default returns the configuration used when nothing else is set.
func Default() Config {
	return Config{
		DataDir:  "./data",
		LogLevel: "info",
		MQTT: MQTT{
			Addr:           ":1883",
			WebSocketAddr:  ":1884",
			MaxPacketBytes: 256 << 10,
			ReceiveMaximum: 256,
			MaxInflight:    1024,
			MaxQueued:      1024,
			SessionExpiry:  Duration(day),
			MessageExpiry:  Duration(10 * time.Minute),
			MaxClients:     200_000,
		},
		HTTP: HTTP{Addr: ":8080"},
		Upstream: Upstream{
			ClientID:    "hwtrack",
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
			MarginM:     20,
			MinFixes:    2,
			Persistence: Duration(30 * time.Second),
		},
		ZoneFiles: []string{"configs/zones.geojson"},
	}
}
