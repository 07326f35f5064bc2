package config

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// The values of mqtt.mode.
const (
	// ModeEmbedded takes vehicle publishes from this server's own broker.
	ModeEmbedded = "embedded"
	// ModeExternal also consumes them from an existing MQTT cluster, as one
	// of several ingest nodes configured under external.
	ModeExternal = "external"
)

// External configures the ingest node of a server in external mode: the
// MQTT cluster the vehicles publish to, and how the nodes sharing it divide
// the vehicles between them.
type External struct {
	// URL is the cluster's address: tcp://, ssl://, ws:// or wss://.
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// CAFile (PEM) replaces the system roots for verifying the cluster's
	// certificate; CertFile and KeyFile (PEM) are this node's client
	// certificate.
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Group names the shared subscription and the nodes that divide the
	// vehicles; every node of one deployment uses the same group.
	Group string `yaml:"group"`
	// NodeID names this node within the group and must be unique and
	// stable across restarts; empty means the host name.
	NodeID string `yaml:"node_id"`
	// Heartbeat is how often the node announces itself, and NodeTimeout
	// how long a node may stay silent before the others take its
	// vehicles over.
	Heartbeat   Duration `yaml:"heartbeat"`
	NodeTimeout Duration `yaml:"node_timeout"`
	// StateInterval is how often the deviation state of the vehicles this
	// node owns is saved to the cluster, where the next owner finds it.
	StateInterval Duration `yaml:"state_interval"`
	// SettleTimeout bounds how long a node waits for the previous owners
	// to hand over vehicles after the membership changed.
	SettleTimeout Duration `yaml:"settle_timeout"`
}

// DefaultExternal returns the external settings used when none are set.
func DefaultExternal() External {
	return External{
		Group:         "hwtrack",
		Heartbeat:     Duration(2 * time.Second),
		NodeTimeout:   Duration(10 * time.Second),
		StateInterval: Duration(5 * time.Second),
		SettleTimeout: Duration(5 * time.Second),
	}
}

// ValidNodeName reports whether s can name a node or a group: 1 to 64
// ASCII letters, digits, '.', '-' or '_'. Both become parts of MQTT topics
// and client ids, so '/', '+' and '#' are excluded.
func ValidNodeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == ""
}

// ResolvedNodeID returns the configured node id, or the host name when none is
// set.
func (e External) ResolvedNodeID() (string, error) {
	if e.NodeID != "" {
		return e.NodeID, nil
	}
	return os.Hostname()
}

func validateExternal(cfg *Config, problems *Error) {
	switch cfg.MQTT.Mode {
	case ModeEmbedded:
		return
	case ModeExternal:
	default:
		problems.add("mqtt.mode: %q is not one of %s, %s", cfg.MQTT.Mode, ModeEmbedded, ModeExternal)
		return
	}

	e := cfg.External
	if e.URL == "" {
		problems.add("external.url: must be set in external mode, e.g. tcp://emqx.example:1883")
	} else {
		checkBrokerURL("external.url", e.URL, problems)
	}
	if !ValidNodeName(e.Group) {
		problems.add("external.group: %q must be 1 to 64 letters, digits, '.', '-' or '_'", e.Group)
	}
	if id, err := e.ResolvedNodeID(); err != nil {
		problems.add("external.node_id: empty and the host name is unknown (%v); set a node id", err)
	} else if !ValidNodeName(id) {
		problems.add("external.node_id: %q must be 1 to 64 letters, digits, '.', '-' or '_'; set one if the host name is not", id)
	}
	checkPair("external.cert_file", e.CertFile, "external.key_file", e.KeyFile, problems)
	if e.CAFile != "" {
		checkFile("external.ca_file", e.CAFile, problems)
	}
	checkDuration("external.heartbeat", e.Heartbeat, 100*time.Millisecond, time.Minute, problems)
	checkDuration("external.node_timeout", e.NodeTimeout, time.Second, 10*time.Minute, problems)
	if e.NodeTimeout.Std() < 2*e.Heartbeat.Std() {
		problems.add("external.node_timeout: %s must be at least twice external.heartbeat (%s), or a node is taken for lost between two heartbeats", e.NodeTimeout, e.Heartbeat)
	}
	checkDuration("external.state_interval", e.StateInterval, 100*time.Millisecond, time.Hour, problems)
	checkDuration("external.settle_timeout", e.SettleTimeout, 100*time.Millisecond, 10*time.Minute, problems)
}

// checkBrokerURL reports a broker address that paho cannot dial.
func checkBrokerURL(key, raw string, problems *Error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		problems.add("%s: %v", key, err)
	case !slices.Contains([]string{"tcp", "mqtt", "ssl", "tls", "mqtts", "tcps", "ws", "wss"}, u.Scheme):
		problems.add("%s: scheme %q is not one of tcp, mqtt, ssl, tls, mqtts, tcps, ws, wss", key, u.Scheme)
	case u.Host == "":
		problems.add("%s: missing host:port, e.g. tcp://broker.example:1883", key)
	}
}
