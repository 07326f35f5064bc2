package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestExternalModeSettings(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		env     []string
		problem string
	}{
		{"unknown mode", "mqtt:\n  mode: cluster\n", nil, "mqtt.mode"},
		{"no url", "mqtt:\n  mode: external\nexternal:\n  node_id: n1\n", nil, "external.url"},
		{"http url", "mqtt:\n  mode: external\nexternal:\n  url: http://emqx.example:1883\n  node_id: n1\n", nil, "external.url"},
		{"slash in group", "", []string{"HWTRACK_MQTT_MODE=external", "HWTRACK_EXTERNAL_URL=tcp://emqx.example:1883", "HWTRACK_EXTERNAL_NODE_ID=n1", "HWTRACK_EXTERNAL_GROUP=a/b"}, "external.group"},
		{"wildcard in node id", "mqtt:\n  mode: external\nexternal:\n  url: tcp://emqx.example:1883\n  node_id: n+1\n", nil, "external.node_id"},
		{"timeout below two heartbeats", "mqtt:\n  mode: external\nexternal:\n  url: tcp://emqx.example:1883\n  node_id: n1\n  heartbeat: 5s\n  node_timeout: 8s\n", nil, "external.node_timeout"},
		{"key without certificate", "mqtt:\n  mode: external\nexternal:\n  url: ssl://emqx.example:8883\n  node_id: n1\n  key_file: /nonexistent/key.pem\n", nil, "external.cert_file"},
		{"missing ca file", "mqtt:\n  mode: external\nexternal:\n  url: ssl://emqx.example:8883\n  node_id: n1\n  ca_file: /nonexistent/ca.pem\n", nil, "external.ca_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tc.yaml), tc.env, Flags{})
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("Load error = %v, want *Error", err)
			}
			if !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("error %q does not name %s", err, tc.problem)
			}
		})
	}

	cfg, err := Load(writeFile(t, "mqtt:\n  mode: external\nexternal:\n  url: tcp://emqx.example:1883\n  node_id: ingest-1\n"),
		[]string{"HWTRACK_EXTERNAL_STATE_INTERVAL=2s", "HWTRACK_EXTERNAL_PASSWORD=a-node-secret-from-the-vault"}, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.External
	if e.URL != "tcp://emqx.example:1883" || e.NodeID != "ingest-1" || e.Group != "hwtrack" || e.Password != "a-node-secret-from-the-vault" {
		t.Errorf("external = %+v", e)
	}
	if e.StateInterval.Std() != 2*time.Second || e.Heartbeat.Std() != 2*time.Second || e.NodeTimeout.Std() != 10*time.Second {
		t.Errorf("durations = %s %s %s, want 2s from the environment and the defaults 2s and 10s", e.StateInterval, e.Heartbeat, e.NodeTimeout)
	}
}

func TestEmbeddedModeIgnoresExternalSettings(t *testing.T) {
	if _, err := Load(writeFile(t, "external:\n  url: http://not-checked\n  node_id: a/b\n"), nil, Flags{}); err != nil {
		t.Errorf("embedded mode checked the external settings: %v", err)
	}
}
